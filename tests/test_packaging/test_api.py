"""The public API: ``optverify.assert_conforms`` and ``optverify.NonConformance``, imported
lazily so that ``import optverify`` does not import torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import optverify
from optverify.properties import conformance
from tests.check_targets.targets import NoWeightDecaySGD
from tests.test_packaging._run import child_env


def test_import_is_light() -> None:
    code = (
        "import sys, optverify;"
        "heavy = sorted({'torch', 'hypothesis', 'numpy'} & set(sys.modules));"
        "assert not heavy, heavy;"
        "optverify.NonConformance;"
        "assert 'torch' in sys.modules"
    )
    done = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_public_names_are_the_conformance_api() -> None:
    assert optverify.assert_conforms is conformance.assert_conforms
    assert optverify.NonConformance is conformance.NonConformance
    assert optverify.Summary is conformance.Summary
    assert {"assert_conforms", "NonConformance", "__version__"} <= set(dir(optverify))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = optverify.nope  # type: ignore[attr-defined]


def test_assert_conforms_from_the_top_level() -> None:
    summary = optverify.assert_conforms(torch.optim.Adam, "Adam", max_examples=5, seed=0)
    assert summary.examples == 5
    with pytest.raises(optverify.NonConformance, match=r"does not conform to torch\.optim\.SGD"):
        optverify.assert_conforms(NoWeightDecaySGD, "SGD", max_examples=50, seed=0)
