"""JUnit XML and GitHub Actions annotations from ``optverify check --format json``'s dict."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from optverify import ci_output

CONFORMS: dict[str, Any] = {
    "verdict": "conforms", "target": "lib/optim.py:MyAdam", "class": "MyAdam",
    "against": "torch.optim.Adam", "dtypes": ["float64", "float32"], "seed": 0,
    "examples": 100, "seconds": 4.0, "notes": [], "counterexample": None, "repro": None,
    "summary": "MyAdam conforms to torch.optim.Adam: 100 examples, varied lr",
}  # fmt: skip
MISMATCH: dict[str, Any] = {
    **CONFORMS,
    "verdict": "mismatch",
    "summary": "MISMATCH: MyAdam vs torch.optim.Adam(foreach=False): step 2, param 0: values "
    "differ (max abs err 1e-3, max rel err 0.5); case: {'lr': 0.1}",
    "notes": ["warning, 1 time(s): UserWarning: careful"],
    "repro": "import torch\nraise SystemExit(1)\n",
    "counterexample": {
        "reference": "torch.optim.Adam(foreach=False)", "what": "param", "step": 2, "param": 0,
        "state_key": None, "detail": "values differ",
        "params": [{"shape": [2], "dtype": "float32"}],
        "hyperparameters_code": ["{'lr': 0.1}"], "schedule": {"2": ["{'lr': 0.2}"]},
        "problem": "params [(2,):float32] on cpu, 1 group(s), 2 step(s)",
        "target_value": [1.0, 2.0], "torch_value": [1.0, 2.5], "max_abs_err": 0.5,
        "max_rel_err": 0.2, "rerun": "optverify check lib/optim.py:MyAdam --against Adam --seed 0",
    },
}  # fmt: skip
ERROR = {"verdict": "error", "error": "cannot import lib/optim.py: ModuleNotFoundError: x"}


def _suite(xml: str) -> ET.Element:
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    return suite


def test_conforming_run_is_one_passing_case_per_dtype() -> None:
    suite = _suite(ci_output.junit_xml(CONFORMS))
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "lib/optim.py:MyAdam vs torch.optim.Adam [float64]",
        "lib/optim.py:MyAdam vs torch.optim.Adam [float32]",
    ]
    assert all(len(c) == 0 and c.get("time") == "2.000" for c in cases)
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "0", "0")


def test_mismatch_fails_its_dtype_with_the_counterexample() -> None:
    suite = _suite(ci_output.junit_xml(MISMATCH))
    by_dtype = {c.get("name", "").rsplit(" ", 1)[1]: c for c in suite.findall("testcase")}
    failure = by_dtype["[float32]"].find("failure")
    assert failure is not None and failure.get("message") == MISMATCH["summary"]
    text = failure.text or ""
    pieces = (
        "step 2, param 0: param: values differ", "group 0:    {'lr': 0.1}",
        "before step 2: set {'lr': 0.2}", "torch:      [1.0, 2.5]",
        "rerun:      optverify check", "note: warning", "raise SystemExit(1)",
    )  # fmt: skip
    for piece in pieces:
        assert piece in text, piece
    skipped = by_dtype["[float64]"].find("skipped")
    assert skipped is not None and "not concluded" in skipped.get("message", "")
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")


def test_errors_several_reports_and_bad_input(tmp_path: Path) -> None:
    path = ci_output.write_junit(tmp_path / "a" / "junit.xml", [CONFORMS, MISMATCH, ERROR])
    suite = _suite(path.read_text())
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "1", "1")
    error = suite.findall("testcase")[-1].find("error")
    assert error is not None and error.get("message") == ERROR["error"]
    with pytest.raises(ValueError, match="not a report of optverify check"):
        ci_output.junit_xml({"verdict": "maybe"})
    dirty = {**MISMATCH, "summary": "MISMATCH: \x1b[31mred\x00"}
    ET.fromstring(ci_output.junit_xml(dirty))  # control characters do not break the XML


def test_annotations_only_on_github_actions(tmp_path: Path) -> None:
    out = io.StringIO()
    assert ci_output.emit_github_annotations(MISMATCH, out, env={}) == 0
    assert ci_output.emit_github_annotations(CONFORMS, out, env={"GITHUB_ACTIONS": "true"}) == 0
    assert out.getvalue() == ""
    assert ci_output.emit_github_annotations([MISMATCH, ERROR], out,
                                             env={"GITHUB_ACTIONS": "true"}) == 2  # fmt: skip
    first, second = out.getvalue().splitlines()
    assert first.startswith("::error title=optverify%3A MyAdam does not conform to ")
    assert "::MISMATCH: MyAdam vs" in first and "%0Arerun: optverify check" in first
    assert second.startswith("::error title=optverify check%3A usage or loading error::cannot")


def test_annotation_points_at_the_class(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "optim.py").write_text("import torch\n\n\nclass MyAdam:\n    pass\n")
    (line,) = ci_output.github_annotations({**MISMATCH, "summary": "50% off\r\nx"})
    assert line.startswith("::error file=lib/optim.py,line=4,title=")
    assert line.endswith("::50%25 off%0D%0Ax%0Arerun: " + MISMATCH["counterexample"]["rerun"])
