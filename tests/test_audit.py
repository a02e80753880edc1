"""The audit engine (``optverify audit-torch``): planted "torch implementations" are found
with the right class and attributed to the right implementation; agreeing ones are not."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch

from optverify.audit_cli import OPTIMIZERS, render_audit_markdown, render_audit_text
from optverify.cli import main
from optverify.properties.audit import (
    AuditFinding,
    audit,
    audit_problem,
    torch_implementations,
)
from optverify.properties.harness import Problem
from optverify.properties.specs import SPECS
from optverify.properties.targets import factory

SIMD = 16


class SkipsTail(torch.optim.SGD):
    """A broken kernel: elements beyond the first SIMD vector keep their old values."""

    def step(self, closure: Any = None) -> Any:
        params = [p for g in self.param_groups for p in g["params"]]
        before = [p.detach().clone() for p in params]
        loss = super().step(closure)
        with torch.no_grad():
            for p, b in zip(params, before, strict=True):
                tail = torch.arange(p.numel()).reshape(p.shape) >= SIMD
                p[tail] = b[tail]
        return loss


class NanForInf(torch.optim.SGD):
    """A broken kernel: NaN where the result is ±inf."""

    def step(self, closure: Any = None) -> Any:
        loss = super().step(closure)
        with torch.no_grad():
            for g in self.param_groups:
                for p in g["params"]:
                    p[p.isinf()] = math.nan
        return loss


class RaisesOnEmpty(torch.optim.SGD):
    """A broken kernel: refuses empty parameters."""

    def step(self, closure: Any = None) -> Any:
        if any(p.numel() == 0 for g in self.param_groups for p in g["params"]):
            raise RuntimeError("empty tensor")
        return super().step(closure)


def _sgd(foreach_cls: type[torch.optim.Optimizer]) -> dict[str, Any]:
    return {"forloop": factory(torch.optim.SGD, foreach=False),
            "foreach": factory(foreach_cls, foreach=True)}  # fmt: skip


def _problem(p: torch.Tensor, g: torch.Tensor, lr: float = 0.1, steps: int = 2) -> Problem:
    return Problem(
        params=(p,), groups=((0,),), hyper=({"lr": lr, "momentum": 0.0},),
        grads=tuple((g,) for _ in range(steps)),
    )  # fmt: skip


def test_simd_tail_skipped_is_a_mismatch_of_the_broken_implementation() -> None:
    p = torch.linspace(-1, 1, 33, dtype=torch.float64)
    problem = _problem(p, torch.ones(33, dtype=torch.float64))
    found = audit_problem("SGD", "foreach", problem, implementations=_sgd(SkipsTail))
    assert found is not None and found.kind == "mismatch" and found.what == "param"
    # the for-loop is not blamed for its broken neighbour
    assert audit_problem("SGD", "forloop", problem, implementations=_sgd(SkipsTail)) is None
    # within one SIMD vector the broken kernel is right
    small = _problem(p[:SIMD].clone(), torch.ones(SIMD, dtype=torch.float64))
    assert audit_problem("SGD", "foreach", small, implementations=_sgd(SkipsTail)) is None


def test_simd_tail_skipped_in_float32_is_a_mismatch_not_precision() -> None:
    p = torch.linspace(-1, 1, 17, dtype=torch.float32)
    problem = _problem(p, torch.full((17,), 1e-3, dtype=torch.float32))
    found = audit_problem("SGD", "foreach", problem, implementations=_sgd(SkipsTail))
    assert found is not None and found.kind == "mismatch"


def test_nan_for_inf_is_a_non_finite_kind() -> None:
    g = torch.tensor([1.0, math.inf, -math.inf, 2.0], dtype=torch.float64)
    problem = _problem(torch.zeros(4, dtype=torch.float64), g, steps=1)
    found = audit_problem("SGD", "foreach", problem, implementations=_sgd(NanForInf))
    assert found is not None and found.kind == "non-finite kind"
    # torch's own pair agrees on the same problem
    assert audit_problem("SGD", "foreach", problem) is None


def test_an_exception_only_one_implementation_raises_is_its_finding() -> None:
    problem = _problem(torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64))
    impls = _sgd(RaisesOnEmpty)
    found = audit_problem("SGD", "foreach", problem, implementations=impls)
    assert found is not None and found.kind == "validation"
    assert audit_problem("SGD", "forloop", problem, implementations=impls) is None


def test_unbroken_pair_has_no_finding() -> None:
    for dtype in (torch.float64, torch.float32, torch.float16, torch.complex64):
        p = torch.linspace(-1, 1, 40).to(dtype)
        problem = _problem(p, (p * 0.5 + 0.25).to(dtype), steps=3)
        for mode in ("forloop", "foreach"):
            impls = _sgd(torch.optim.SGD)
            assert audit_problem("SGD", mode, problem, implementations=impls) is None, dtype


@pytest.mark.slow
def test_search_finds_the_planted_tail_defect_and_nothing_in_the_sound_one() -> None:
    report = audit(["SGD"], max_examples=12, seed=1, dtypes=[torch.float64],
                   implementations={"SGD": _sgd(SkipsTail)}, shrink_seconds=5)  # fmt: skip
    kinds = {(f.implementation, f.kind) for f in report.findings}
    assert ("foreach", "mismatch") in kinds
    assert all(f.implementation == "foreach" for f in report.findings)
    found = next(f for f in report.findings if f.kind == "mismatch")
    # shrunk within its class: one parameter just beyond the first SIMD vector
    assert found.problem.params[found.finding.param or 0].numel() > SIMD
    sound = audit(["SGD"], max_examples=6, seed=1, dtypes=[torch.float64],
                  implementations={"SGD": _sgd(torch.optim.SGD)})  # fmt: skip
    assert sound.findings == []
    assert [r.examples for r in sound.runs] == [6, 6]


def test_finding_json_script_and_markdown() -> None:
    g = torch.tensor([1.0, math.inf], dtype=torch.float64)
    problem = _problem(torch.zeros(2, dtype=torch.float64), g, steps=1)
    found = audit_problem("SGD", "foreach", problem, implementations=_sgd(NanForInf))
    assert found is not None
    item = AuditFinding(
        "SGD", "foreach", "forloop", "float64", found.kind, found, problem, 0, "cpu"
    )
    data = item.to_json()
    for key in ("optimizer", "implementation", "dtype", "class", "summary", "repro", "torch"):
        assert data[key], key
    json.dumps(data)
    assert data["class"] == "non-finite kind" and data["torch"] == torch.__version__
    # the script rebuilds the problem and judges torch's own pair, which agrees: exit 0
    code = compile(item.script(), item.file_name, "exec")
    scope: dict[str, Any] = {"__name__": "__main__"}
    with pytest.raises(SystemExit) as stop:
        exec(code, scope)
    assert stop.value.code == 0
    assert scope["problem"].params[0].shape == (2,)
    section = render_audit_markdown([item])
    assert "| SGD | foreach | forloop | float64 | non-finite kind |" in section
    assert item.file_name in section and "```python" in section
    assert "No disagreement found." in render_audit_markdown([])
    text = render_audit_text({"torch": "x", "device": "cpu", "seed": 0, "seconds": 1.0,
                              "runs": [], "findings": [data]})  # fmt: skip
    assert "SGD_foreach_float64_non-finite_kind.py" in text


def test_the_cli_names_are_the_specs() -> None:
    assert set(OPTIMIZERS) == set(SPECS)


def test_torch_implementations_follow_the_spec() -> None:
    assert list(torch_implementations(SPECS["Adam"])) == ["forloop", "foreach", "fused"]
    assert list(torch_implementations(SPECS["LBFGS"])) == ["forloop"]


@pytest.mark.parametrize(
    "argv",
    [
        ["audit-torch", "Nope"],
        ["audit-torch", "--max-examples", "0"],
        ["audit-torch", "--max-examples", "x"],
        ["audit-torch", "--device", "tpu"],
        ["audit-torch", "--dtype", "float8"],
        ["audit-torch", "--format", "xml"],
        ["audit-torch", "--shrink-seconds", "-1"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], capsys: Any) -> None:
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("optverify audit-torch: ")


def test_out_must_be_a_directory(tmp_path: Any, capsys: Any) -> None:
    f = tmp_path / "file"
    f.write_text("")
    assert main(["audit-torch", "--out", str(f)]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_cli_runs_and_exits_0(tmp_path: Any, capsys: Any) -> None:
    code = main(["audit-torch", "Adadelta", "--dtype", "float64", "--max-examples", "2",
                 "--format", "json", "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["torch"] == torch.__version__ and data["device"] == "cpu"
    assert [(r["optimizer"], r["implementation"]) for r in data["runs"]] == [
        ("Adadelta", "forloop"), ("Adadelta", "foreach"),
    ]  # fmt: skip
    assert (tmp_path / "audit.json").is_file()
    assert len(list(tmp_path.glob("*.py"))) == len(data["findings"])
