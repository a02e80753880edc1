"""Hypothesis profiles and torch settings shared by every test.

Profiles (``HYPOTHESIS_PROFILE``; ``ci`` when ``CI`` is set, else ``dev``):

* ``dev`` — quick local runs: 25 examples per property.
* ``ci`` — the gate: derandomized (the same examples every run), no database, 25 examples
  per property (the search beyond it is the ``thorough`` profile's and the campaigns').
* ``thorough`` — nightly-style: 1 000 examples per property, random seeds.

Every profile has ``deadline=None``: torch's first call in a process pays lazy
initialisation (~0.5 s), which a deadline would report as a flaky failure.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, settings

from optverify import torch_compat
from optverify.properties.generation import use_reproducible_generation

# One thread: on 2-core machines torch's default of two OpenMP threads stalls ~8 ms per
# parallel region, which made a Hypothesis suite 7-13x slower.
torch.set_num_threads(1)
# Inductor compiles in this process, not in a pool of worker processes: each pool worker
# imports torch (seconds of CPU), and on two cores the pool only competes with the tests
# (measured, tests/test_fast_paths.py with a cold cache: 62.8 s with the pool, 53.2 s without).
# Read when inductor's configuration is first imported (on the first compile); the tests'
# subprocesses inherit it.
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")

# too_slow: a drawn problem builds several tensors and runs torch; generation is not the
# bottleneck we care about. data_too_large: long gradient streams are legitimate.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large]

settings.register_profile("dev", max_examples=25, deadline=None, suppress_health_check=_SLOW_OK)
# ci: the pull-request gate (<= 6 minutes on two cores); derandomized, so the same examples
# every run; 25 examples a property, as dev (at 40 the suite took 8 minutes once the default
# coverage drew SIMD-size, empty and strided tensors). The search beyond it is the thorough
# profile's and the fuzzing campaigns'.
settings.register_profile(
    "ci",
    max_examples=25,
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


# ---------------------------------------------------------------------------------------------
# version drift: our classes mirror one torch release bit for bit (optverify.torch_compat)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exact_torch: a bit-for-bit test of our own classes; on a torch other than the one "
        "they mirror, a difference is reported as version drift (xfail), and an optimiser or "
        "flag that torch lacks is skipped with the reason",
    )


def _optimiser_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("name") if callspec is not None else None
    return name if isinstance(name, str) else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Under ``exact_torch``: skip an optimiser this torch lacks; on a torch other than
    :data:`~optverify.torch_compat.MIRRORED`, turn an assertion (a ``NonConformance`` or a
    failed ``assert``) into an xfail naming the drift. On the mirrored torch: unchanged."""
    if item.get_closest_marker("exact_torch") is None:
        return (yield)
    name = _optimiser_of(item) or item.name
    missing = torch_compat.lacking(name) if _optimiser_of(item) else None
    if missing is not None:
        pytest.skip(missing)
    if torch_compat.mirrors_installed_torch():
        return (yield)
    try:
        return (yield)
    except AssertionError as difference:
        pytest.xfail(torch_compat.drift_reason(name, difference))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``slow`` tests run with ``-m slow``, ``OPTVERIFY_SLOW=1`` or the thorough profile;
    the default run (the gate) skips them with that reason."""
    wanted = (
        "slow" in (config.getoption("markexpr") or "")
        or os.getenv("OPTVERIFY_SLOW") == "1"
        or os.getenv("HYPOTHESIS_PROFILE") == "thorough"
    )
    if wanted:
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow or OPTVERIFY_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
