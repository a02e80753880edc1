"""The pytest plugin beyond the sample library: the Hypothesis profile, ``[tool.optverify]``,
the command-line overrides, and a clear failure for a misused marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_packaging._run import run_pytest

PYPROJECT = """
[tool.optverify]
seed = 11

[tool.optverify.targets."torch.optim.adam:Adam"]
against = "Adam"
max-examples = 3
pins = { eps = 1e-6 }
"""
CONFTEST = """
from hypothesis import settings
settings.register_profile("tiny", max_examples=4, deadline=None)
"""
TESTS = """
import os

import pytest
import torch


def test_seed_and_examples(conformance):
    summary = conformance(torch.optim.SGD, "SGD", max_examples=2)
    assert summary.seed == int(os.environ.get("EXPECT_SEED", "11"))
    assert summary.examples == int(os.environ.get("EXPECT_EXAMPLES", "2"))


def test_profile_sets_the_examples(conformance):
    summary = conformance(torch.optim.SGD, "SGD")
    assert summary.examples == 4 and summary.seed == 11


def test_config_table_of_the_target(conformance):
    summary = conformance(torch.optim.Adam)
    assert summary.against == "Adam" and summary.examples == 3
    assert dict(summary.pinned) == {"eps": 1e-6}


def test_keywords_override_the_config(conformance):
    summary = conformance(torch.optim.Adam, max_examples=2, eps=1e-7, dtypes=["float32"])
    assert summary.examples == 2 and dict(summary.pinned) == {"eps": 1e-7}


@pytest.mark.conforms_to("SGD", max_examples=2)
def test_marker_passes():
    return torch.optim.SGD


@pytest.mark.conforms_to("SGD")
def test_marker_without_a_class():
    pass


@pytest.mark.conforms_to()
def test_marker_without_a_reference():
    return torch.optim.SGD
"""


def test_profile_config_overrides_and_misuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_lib.py").write_text(TESTS)
    result = run_pytest(tmp_path, "-q", "--hypothesis-profile", "tiny", "-rf")
    out = result.stdout + result.stderr
    assert "2 failed, 5 passed" in out, out
    assert "optverify: expected an optimiser class, got NoneType" in out
    assert 'no torch optimiser for SGD: give conforms_to("Adam")' in out
    # the command line overrides both the marker and the configuration
    monkeypatch.setenv("EXPECT_SEED", "5")
    monkeypatch.setenv("EXPECT_EXAMPLES", "1")
    flags = ("--optverify-seed", "5", "--optverify-max-examples", "1")
    assert "1 passed" in run_pytest(tmp_path, "-q", *flags, "-k", "seed_and").stdout
    monkeypatch.setenv("EXPECT_SEED", "6")  # and a wrong expectation fails
    assert "1 failed" in run_pytest(tmp_path, "-q", *flags, "-k", "seed_and").stdout
