"""The ``exact_torch`` marker (tests/conftest.py): a bit-for-bit test of our classes fails as
usual on the torch they mirror, is an xfail naming the drift on another, and is skipped where
torch lacks the optimiser."""

from __future__ import annotations

from pathlib import Path

import pytest

from optverify import torch_compat
from tests.test_packaging._run import run_pytest

CONFTEST = """
import os
from optverify import torch_compat
torch_compat.MIRRORED = os.environ["MIRRORED"]
from tests.conftest import pytest_configure, pytest_runtest_call  # noqa: F401
"""
TESTS = """
import pytest

pytestmark = pytest.mark.exact_torch


@pytest.mark.parametrize("name", ["Adam", "SGD", "NoSuchOptimiser"])
def test_exact(name):
    assert name != "Adam", "param 0 differs by 1 ulp"


def test_unmarked_failure_stays_a_failure():
    pass
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_exact.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nxfail_strict = true\n")
    return tmp_path


def _run(project: Path, mirrored: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MIRRORED", mirrored)
    result = run_pytest(project, "-rxs", "-q")
    return result.stdout + result.stderr


def test_on_the_mirrored_torch_a_difference_fails(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run(project, torch_compat.release(), monkeypatch)
    assert "1 failed, 2 passed, 1 skipped" in out, out
    assert "has no torch.optim.NoSuchOptimiser" in out


def test_on_another_torch_a_difference_is_drift(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = _run(project, "0.1", monkeypatch)
    assert "2 passed, 1 skipped, 1 xfailed" in out, out
    assert (
        f"version drift: our Adam mirrors torch 0.1 bit for bit; torch "
        f"{torch_compat.installed_torch()} differs: param 0 differs by 1 ulp"
    ) in out


def test_release_and_lacking() -> None:
    assert torch_compat.release("2.14.1+cu130") == "2.14"
    assert torch_compat.mirrors_installed_torch("2.13.0+cpu")
    assert not torch_compat.mirrors_installed_torch("2.14.1")
    assert torch_compat.lacking("Adam") is None
    assert torch_compat.lacking_flags("Adam", ["foreach", "maximize", "warp_drive"]) == [
        "warp_drive"
    ]
