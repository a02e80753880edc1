"""Helpers shared by the property tests."""

from __future__ import annotations

from hypothesis import settings

from optverify.properties.specs import SPECS, Spec


def seed_for_profile() -> int | None:
    """A fixed seed under a derandomized profile (``ci``), else a fresh one per run."""
    return 0 if settings().derandomize else None


def spec(name: str) -> Spec:
    return SPECS[name]


NAMES = sorted(SPECS)

#: optimisers whose problems are dense gradient streams (not SparseAdam's sparse gradients
#: nor LBFGS's closures): the invariants that replay or edit gradients apply to these
DENSE_NAMES = [n for n in NAMES if spec(n).dense_problems]
