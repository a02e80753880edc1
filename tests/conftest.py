"""Hypothesis profiles and torch settings shared by every test.

Profiles (``HYPOTHESIS_PROFILE``; ``ci`` when ``CI`` is set, else ``dev``):

* ``dev`` — quick local runs: 25 examples per property.
* ``ci`` — the gate: derandomized (the same examples every run), no database, 100 examples
  per property, so that every (optimiser x property) pair sees at least 100 examples.
* ``thorough`` — nightly-style: 1 000 examples per property, random seeds.

Every profile has ``deadline=None``: torch's first call in a process pays lazy
initialisation (~0.5 s), which a deadline would report as a flaky failure.
"""

from __future__ import annotations

import os

import torch
from hypothesis import HealthCheck, settings

from properties.generation import use_reproducible_generation

# One thread: on 2-core machines torch's default of two OpenMP threads stalls ~8 ms per
# parallel region, which made a Hypothesis suite 7-13x slower.
torch.set_num_threads(1)

# too_slow: a drawn problem builds several tensors and runs torch; generation is not the
# bottleneck we care about. data_too_large: long gradient streams are legitimate.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=_SLOW_OK)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=_SLOW_OK,
)
settings.register_profile(
    "thorough", max_examples=1000, deadline=None, suppress_health_check=_SLOW_OK
)
# The same examples whatever else a pytest-xdist worker imported before (see the module).
use_reproducible_generation()
settings.load_profile(os.getenv("HYPOTHESIS_PROFILE", "ci" if os.getenv("CI") else "dev"))
