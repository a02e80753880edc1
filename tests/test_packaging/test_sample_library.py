"""The sample library in examples/ gated on optverify both ways: by the pytest plugin in its
own suite, and by ``optverify check`` turned into JUnit XML for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from optverify import ci_output
from optverify.cli import main
from tests.test_packaging._run import DOUBLE_DECAY, copy_sample, run_pytest


def test_plugin_passes_the_correct_library(tmp_path: Path) -> None:
    result = run_pytest(copy_sample(tmp_path), "-q", "--optverify-max-examples", "10")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_plugin_fails_a_planted_bug_with_the_counterexample_only(tmp_path: Path) -> None:
    result = run_pytest(
        copy_sample(tmp_path, DOUBLE_DECAY), "-q", "--optverify-max-examples", "10",
        "-k", "conforms_to_torch",
    )  # fmt: skip
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "1 failed" in out
    assert "optverify: HeavyBallSGD does not conform to torch.optim.SGD" in out
    assert "reproduce: assert_conforms(HeavyBallSGD, 'SGD', seed=0, max_examples=10" in out
    assert "weight_decay" in out
    # the counterexample, not the helpers' source nor Hypothesis's own report
    for noise in ("def assert_conforms", "def conform(", "raise NonConformance",
                  "Falsifying example", "Traceback"):  # fmt: skip
        assert noise not in out, noise
    assert len(out.splitlines()) < 40, out


def _check_json(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> dict:
    code = main(["check", str(project / "sample_optim" / "sgd.py") + ":HeavyBallSGD",
                 "--against", "SGD", "--seed", "0", "--max-examples", "20",
                 "--shrink-time", "5", "--format", "json", *extra])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == (0 if report["verdict"] == "conforms" else 1)
    return report


def test_junit_gate_passes_the_correct_library(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = _check_json(capsys, copy_sample(tmp_path))
    path = ci_output.write_junit(tmp_path / "out" / "optverify.xml", report)
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    names = [c.get("name", "").rsplit(" ", 1)[1] for c in cases]
    assert names == [f"[{d}]" for d in report["dtypes"]]  # every dtype drawn by default
    assert {"[float64]", "[float32]", "[bfloat16]", "[float16]"} <= set(names)
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert all(len(c) == 0 for c in cases)  # no failure, error or skipped child


def test_junit_gate_fails_a_planted_bug_with_the_counterexample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = _check_json(capsys, copy_sample(tmp_path, DOUBLE_DECAY))
    assert report["verdict"] == "mismatch"
    root = ET.fromstring(ci_output.junit_xml(report))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") != "0"
    failures = [c.find("failure") for c in suite.findall("testcase")]
    failure = next(f for f in failures if f is not None)
    assert failure.get("message", "").startswith("MISMATCH: HeavyBallSGD vs torch.optim.SGD")
    text = failure.text or ""
    assert "weight_decay" in text and "rerun:      optverify check" in text
    assert "reproducing script" in text
