"""A seed draws the same examples whatever local modules the process imported."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st

from optverify.properties import generation


def _draws() -> list[float]:
    drawn: list[float] = []

    @seed(0)
    @settings(max_examples=10, database=None, derandomize=False, deadline=None)
    @given(st.lists(st.floats(-1e3, 1e3), min_size=100, max_size=100))
    def record(values: list[float]) -> None:
        drawn.extend(values)

    record()
    return drawn


def _import_constant_rich_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local module full of float literals, as a user's project would have."""
    literals = ", ".join(f"{k}.{k:03d}25" for k in range(1, 300))
    (tmp_path / "optverify_constants_probe.py").write_text(f"VALUES = [{literals}]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "optverify_constants_probe", raising=False)
    importlib.import_module("optverify_constants_probe")


@pytest.mark.skipif(generation.ORIGINAL_LOCAL_CONSTANTS is None, reason="no such hook here")
def test_local_literals_change_what_a_seed_draws_without_the_guard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The problem being solved: Hypothesis's own behaviour, with the guard lifted."""
    providers = generation._providers
    monkeypatch.setattr(providers, "_get_local_constants", generation.ORIGINAL_LOCAL_CONSTANTS)
    providers.CONSTANTS_CACHE.cache.clear()
    before = _draws()
    _import_constant_rich_module(tmp_path, monkeypatch)
    after = _draws()
    providers.CONSTANTS_CACHE.cache.clear()
    assert before != after


def test_the_guard_keeps_a_seed_reproducible(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with generation.reproducible_generation():
        before = _draws()
    _import_constant_rich_module(tmp_path, monkeypatch)
    with generation.reproducible_generation():
        after = _draws()
    assert before == after
