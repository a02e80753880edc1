"""The bug benchmark over torch's history: ``audit-torch --format json``'s schema, what an older
torch lacks (skipped with a reason), defect ids, the history report and its CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from optverify.cli import main
from optverify.history import annotate, defect_id
from optverify.history_report import collect, load, render
from optverify.properties.audit import AuditFinding, audit, audit_problem
from optverify.properties.audit_compat import lacking_mode, tensor_lr_refusals
from optverify.properties.harness import Problem
from optverify.properties.specs import SPECS
from optverify.properties.targets import factory
from tests.test_audit import NanForInf

FINDING_FIELDS = {"optimizer", "implementation", "dtype", "class", "summary", "repro",
                  "features", "repro_file"}  # fmt: skip


class OldSGD(torch.optim.SGD):
    """An older torch's SGD: no ``fused`` and no ``maximize`` argument, lr a float only."""

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, foreach: bool | None = None) -> None:  # fmt: skip
        super().__init__(params, lr, momentum, dampening, weight_decay, nesterov,
                         foreach=foreach)  # fmt: skip


OldSGD.__doc__ = "Implements SGD.\n\n    Args:\n        lr (float): learning rate\n"


def test_audit_json_lists_each_finding_with_its_fields_and_repro(capsys: Any) -> None:
    code = main(["audit-torch", "Adadelta", "--max-examples", "2", "--no-shrink",
                 "--dtype", "float64", "--format", "json"])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert {"torch", "device", "seed", "runs", "findings"} <= set(data)
    assert {r["implementation"] for r in data["runs"]} == {"forloop", "foreach"}
    assert all({"note", "flags_skipped", "unsupported", "examples"} <= set(r) for r in data["runs"])
    # a finding's JSON (a planted defect: the CLI's findings are this same object)
    g = torch.tensor([1.0, math.inf], dtype=torch.float64)
    problem = Problem(params=(torch.zeros(2, dtype=torch.float64),), groups=((0,),),
                      hyper=({"lr": 0.1},), grads=((g,),))  # fmt: skip
    impls = {"forloop": factory(torch.optim.SGD, foreach=False),
             "foreach": factory(NanForInf, foreach=True)}  # fmt: skip
    found = audit_problem("SGD", "foreach", problem, implementations=impls)
    assert found is not None
    row = AuditFinding("SGD", "foreach", "forloop", "float64", found.kind, found, problem, 0,
                       "cpu").to_json()  # fmt: skip
    assert set(row) >= FINDING_FIELDS
    assert row["implementation"] in ("forloop", "foreach", "fused", "capturable")
    assert row["class"] == "non-finite kind" and "non-finite gradient" in row["features"]
    assert "sys.exit(reproduce(" in row["repro"]
    compile(row["repro"], row["repro_file"], "exec")


def test_an_optimiser_the_torch_lacks_is_skipped_with_a_reason(monkeypatch: Any) -> None:
    monkeypatch.delattr(torch.optim, "Adafactor")
    report = audit(["Adafactor"], max_examples=1, shrink=False)
    assert report.findings == []
    [run] = report.runs
    assert run.note.startswith("skipped:") and "no torch.optim.Adafactor" in run.note
    assert run.examples == 0


def test_an_implementation_and_flags_the_torch_lacks_are_skipped(monkeypatch: Any) -> None:
    monkeypatch.setattr(torch.optim, "SGD", OldSGD)
    spec = SPECS["SGD"]
    assert "'fused'" in (lacking_mode(spec, "fused") or "")
    assert lacking_mode(spec, "foreach") is None
    refused = tensor_lr_refusals(spec, {"forloop": factory(OldSGD), "foreach": factory(OldSGD)},
                                 "cpu")  # fmt: skip
    assert set(refused) == {"forloop", "foreach"} and "float only" in refused["forloop"]
    report = audit(["SGD"], max_examples=3, shrink=False, dtypes=[torch.float64])
    runs = {r.implementation: r for r in report.runs}
    assert set(runs) == {"forloop", "foreach", "fused"}
    assert runs["fused"].note.startswith("skipped:") and runs["fused"].examples == 0
    for mode in ("forloop", "foreach"):
        assert runs[mode].examples == 3, runs[mode]
        assert "maximize" in runs[mode].flags_skipped
        assert "tensor lr" in runs[mode].flags_skipped
    assert report.findings == []  # no TypeError from an argument it lacks


def _finding(opt: str, impl: str, kind: str, features: list[str], **extra: Any) -> dict[str, Any]:
    f = {"optimizer": opt, "implementation": impl, "class": kind, "features": features,
         "dtype": "float32", "summary": f"{kind}: step 1: param", "repro_file": "r.py",
         "repro": "import sys\nsys.exit(1)\n", "reproduced": True, **extra}  # fmt: skip
    f["torch"] = f.get("torch", "2.x")
    annotate(f)
    return f


def test_defect_ids_group_by_structure_then_dtype_family() -> None:
    a = _finding("SGD", "fused", "mismatch", ["half precision", "non-contiguous"])
    b = _finding("SGD", "fused", "mismatch", ["non-contiguous"])
    c = _finding("SGD", "fused", "mismatch", ["half precision"])
    d = _finding("SGD", "fused", "validation", ["missing gradient", "raises"])
    assert defect_id(a) == defect_id(b) == "SGD/fused/mismatch/non-contiguous"
    assert defect_id(c) == "SGD/fused/mismatch/half-precision"
    assert defect_id(d) == "SGD/fused/validation/raises+missing-gradient"
    # the strongest structural feature names it; the dtype family follows
    e = _finding("RAdam", "foreach", "overflow", ["complex", "empty parameter", "missing gradient"])
    assert defect_id(e) == "RAdam/foreach/overflow/missing-gradient+complex"
    assert defect_id(_finding("ASGD", "foreach", "mismatch", [])) == "ASGD/foreach/mismatch/float"
    # a state entry names the defect whatever else the minimal problem kept
    eta = _finding("ASGD", "foreach", "mismatch", ["empty parameter"], what="state", key="eta")
    assert defect_id(eta) == "ASGD/foreach/mismatch/state-eta"
    sparse = _finding(
        "SGD", "foreach", "validation", ["empty parameter", "raises", "sparse gradient"]
    )
    assert defect_id(sparse) == "SGD/foreach/validation/raises+sparse-gradient"
    both = _finding("SGD", "foreach", "validation", ["raises"], reference_raised=True)
    assert not both["counted"]  # an input both implementations refuse is no defect


def _runs(*pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"optimizer": o, "implementation": i, "examples": 5, "note": ""} for o, i in pairs]


def _write_fixture(folder: Path) -> None:
    both = _runs(("SGD", "forloop"), ("SGD", "foreach"), ("SGD", "fused"))
    old = [*_runs(("SGD", "forloop"), ("SGD", "foreach")),
           {"optimizer": "SGD", "implementation": "fused", "examples": 0,
            "note": "skipped: no fused"}]  # fmt: skip
    records = {
        "2.0.1": (old, [_finding("SGD", "foreach", "validation", ["empty parameter", "raises"]),
                        _finding("SGD", "foreach", "mismatch", [], reproduced=False),
                        _finding("SGD", "forloop", "precision", [])]),
        "2.3.1": (both, [_finding("SGD", "fused", "mismatch", ["non-contiguous"])]),
        "2.13.0": (both, [_finding("SGD", "fused", "mismatch", ["non-contiguous", "complex"]),
                          _finding("SGD", "fused", "mismatch", ["half precision"],
                                   dtype="float16")]),
    }  # fmt: skip
    for version, (runs, findings) in records.items():
        record = {"version": version, "runs": runs, "findings": findings, "wall_seconds": 1.0}
        (folder / f"{version}.json").write_text(json.dumps(record))


def test_history_report_renders_a_version_by_defect_table(tmp_path: Path) -> None:
    _write_fixture(tmp_path)
    records = load(tmp_path)
    assert [r["version"] for r in records] == ["2.0.1", "2.3.1", "2.13.0"]  # numeric order
    defects = {d.id: d for d in collect(records)}
    # the unreproduced finding and the precision note are not defects
    assert set(defects) == {"SGD/foreach/validation/raises+empty-parameter",
                            "SGD/fused/mismatch/non-contiguous",
                            "SGD/fused/mismatch/half-precision"}  # fmt: skip
    text = render(records)
    assert "| defect | 2.0.1 | 2.3.1 | 2.13.0 | appeared | disappeared | upstream |" in text
    row = next(line for line in text.splitlines() if "`SGD/fused/mismatch/non-contiguous`" in line)
    assert "| n/a | **found** | **found** | 2.3.1 | present in the newest release |" in row
    empty = next(line for line in text.splitlines() if "validation/raises+empty" in line)
    assert "| **found** | · | · | 2.0.1 or earlier | not found from 2.3.1 |" in empty
    half = next(line for line in text.splitlines() if "`SGD/fused/mismatch/half-precision`" in line)
    assert "pull 191763" not in half and "[pytorch issue 191763]" in half
    assert "**3 distinct defect(s)** over 3 release(s); 1 with an upstream" in text
    assert "2 present in the newest release audited (2.13.0)" in text


def test_report_history_cli(tmp_path: Path, capsys: Any) -> None:
    _write_fixture(tmp_path)
    assert main(["report", "--history", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert "| defect |" in (tmp_path / "out" / "history.md").read_text()
    capsys.readouterr()
    assert main(["report", "--history", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a directory" in err and "Traceback" not in err
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "2.0.1.json").write_text("{}")
    assert main(["report", "--history", str(tmp_path / "bad")]) == 2
    assert "not a history record" in capsys.readouterr().err


def test_report_without_out_or_history_is_a_usage_error(capsys: Any) -> None:
    assert main(["report"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(SystemExit) as exited:
        main(["report", "--history"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
