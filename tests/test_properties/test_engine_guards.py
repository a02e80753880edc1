"""Self-tests of the verdict engine: one planted optimiser per guard, caught by that guard.

Each guard of :mod:`optverify.properties.verdict` (and the exact mode of
:mod:`optverify.properties.harness`) gets a small, deterministic problem built by hand and a
planted optimiser whose only defect is the one the guard exists for: the test checks the
class of the finding, and that the same optimiser with the defect removed (the honest one)
conforms. No Hypothesis here: every test runs a few steps on tensors of a few elements.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.optim import Optimizer

from optverify.properties import conformance, tolerances
from optverify.properties.conformance import judge_problem
from optverify.properties.findings import FAILING, KINDS, Finding, Verdict
from optverify.properties.harness import Problem
from optverify.properties.specs import SPECS
from optverify.properties.targets import factory
from optverify.properties.trajectory import Snapshot, Trajectory, record
from optverify.properties.verdict import judge

SGD = SPECS["SGD"]
F64 = torch.float64


def _t(values: list[float], dtype: torch.dtype = F64) -> Tensor:
    return torch.tensor(values, dtype=dtype)


def sgd_problem(
    grads: list[list[float]],
    *,
    p0: list[float] | None = None,
    dtype: torch.dtype = F64,
    **hyper: Any,
) -> Problem:
    """One parameter, one group, the gradient stream ``grads`` (values exact in binary)."""
    start = p0 if p0 is not None else [1.0, -2.0, 3.0]
    return Problem(
        params=(_t(start, dtype),),
        groups=((0,),),
        hyper=({"lr": 0.5, **hyper},),
        grads=tuple((_t(g, dtype),) for g in grads),
    )


STREAM = [[0.5, 0.25, -1.0], [1.0, -0.5, 0.75], [-0.25, 2.0, 0.5]]


class PlantedSGD(torch.optim.SGD):
    """torch's SGD (for-loop path on the CPU) with ``plant(self, k)`` run after step ``k``
    (``before(self, k)`` before it): the defect of one test, or nothing (the honest one)."""

    plant: Callable[[Optimizer, int], None] | None = None
    before: Callable[[Optimizer, int], None] | None = None

    def __init__(self, params: Any, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self._k = 0

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        with torch.no_grad():
            if type(self).before is not None:
                type(self).before(self, self._k)  # type: ignore[misc]
        loss = super().step(closure)
        with torch.no_grad():
            if type(self).plant is not None:
                type(self).plant(self, self._k)  # type: ignore[misc]
        self._k += 1
        return loss


def planted(
    after: Callable[[Optimizer, int], None] | None = None,
    before: Callable[[Optimizer, int], None] | None = None,
) -> type[Optimizer]:
    return type(
        "Planted", (PlantedSGD,), {"plant": staticmethod(after) if after else None,
                                   "before": staticmethod(before) if before else None}
    )  # fmt: skip


def params_of(opt: Optimizer) -> list[Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


def verdict_of(
    cls: type[Optimizer] | Callable[..., Optimizer],
    problem: Problem,
    *,
    spec: Any = SGD,
    strict: bool = False,
    tolerance: Any = "faithful",
) -> Verdict:
    return judge_problem(
        factory(cls), spec, problem, modes=spec.modes, tolerance=tolerance, strict=strict
    )


def fails_with(verdict: Verdict, kind: str, what: str | None = None) -> Finding:
    found = verdict.finding
    assert found is not None, f"expected a {kind} finding; the verdict conforms: {verdict}"
    assert found.kind == kind, str(found)
    if what is not None:
        assert found.what == what, str(found)
    assert found.fails() or kind == "non-finite hyperparameter"
    assert str(found).startswith(kind)
    return found


def conforms(verdict: Verdict) -> None:
    assert verdict.finding is None, str(verdict.finding)


def nudge(ulps: int) -> Callable[[Optimizer, int], None]:
    """Move every parameter ``ulps`` units in the last place away from zero."""

    def plant(opt: Optimizer, k: int) -> None:
        for p in params_of(opt):
            q = p.detach().clone()
            for _ in range(ulps):
                q = torch.nextafter(q, torch.where(q >= 0, math.inf, -math.inf).to(q.dtype))
            p.copy_(q)

    return plant


# --- the honest baseline ------------------------------------------------------------------


def test_torch_against_itself_conforms_without_notes() -> None:
    verdict = verdict_of(torch.optim.SGD, sgd_problem(STREAM, momentum=0.5))
    conforms(verdict)
    assert verdict.notes == []


def test_kinds_and_failing_classes() -> None:
    assert set(FAILING) == {"mismatch", "overflow", "non-finite kind", "validation"}
    assert set(FAILING) < set(KINDS) and len(set(KINDS)) == len(KINDS) == 7
    hyper = Finding("non-finite hyperparameter", 0, "param", "x")
    assert not hyper.fails() and hyper.fails(strict=True)
    assert not Finding("precision", 0, "param", "x").fails(strict=True)
    assert not Finding("state layout", 0, "state", "x").fails(strict=True)
    assert all(Finding(k, 0, "param", "x").fails() for k in FAILING)


# --- exception type -----------------------------------------------------------------------


def _reject_negative_lr(error: type[Exception]) -> type[Optimizer]:
    class Rejecting(torch.optim.SGD):
        def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
            if lr < 0:
                raise error(f"Invalid learning rate: {lr}")
            super().__init__(params, lr=lr, **kwargs)

    return Rejecting


def test_constructor_exception_of_another_type_is_validation() -> None:
    """torch raises ValueError for lr < 0; a target raising TypeError is caught."""
    problem = sgd_problem(STREAM, lr=-1.0)
    found = fails_with(verdict_of(_reject_negative_lr(TypeError), problem), "validation")
    assert found.what == "constructor" and found.step == -1
    assert "TypeError" in found.detail and "ValueError" in found.detail
    conforms(verdict_of(_reject_negative_lr(ValueError), problem))


def _step_raises(error: type[Exception]) -> type[Optimizer]:
    class SparseRefusing(torch.optim.Adam):
        def step(self, closure: Any = None) -> Any:  # type: ignore[override]
            if any(p.grad is not None and p.grad.is_sparse for p in params_of(self)):
                raise error("sparse gradients are not supported")
            return super().step(closure)

    return SparseRefusing


def test_step_exception_of_another_type_is_validation() -> None:
    """torch's Adam raises RuntimeError on a sparse gradient at step 2; a target raising
    ValueError there is caught at that step; raising RuntimeError conforms."""
    dense = _t([0.5, 0.25, -1.0])
    problem = Problem(
        params=(_t([1.0, -2.0, 3.0]),), groups=((0,),), hyper=({"lr": 0.5},),
        grads=((dense,), (dense.to_sparse(),), (dense,)),
    )  # fmt: skip
    spec = SPECS["Adam"]
    found = fails_with(verdict_of(_step_raises(ValueError), problem, spec=spec), "validation")
    assert found.what == "exception" and found.step == 1
    conforms(verdict_of(_step_raises(RuntimeError), problem, spec=spec))


# --- validation ---------------------------------------------------------------------------


class AcceptsNegativeLr(torch.optim.SGD):
    """Accepts lr < 0, which torch rejects (and then steps uphill)."""

    def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(params, lr=abs(lr), **kwargs)


class RejectsZeroLr(torch.optim.SGD):
    """Rejects lr == 0, which torch accepts."""

    def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
        if lr == 0:
            raise ValueError("lr must be positive")
        super().__init__(params, lr=lr, **kwargs)


def test_accepting_what_torch_rejects_is_validation() -> None:
    found = fails_with(verdict_of(AcceptsNegativeLr, sgd_problem(STREAM, lr=-1.0)), "validation")
    assert found.what == "constructor" and "target accepted" in found.detail
    conforms(verdict_of(AcceptsNegativeLr, sgd_problem(STREAM, lr=1.0)))


def test_rejecting_what_torch_accepts_is_validation() -> None:
    found = fails_with(verdict_of(RejectsZeroLr, sgd_problem(STREAM, lr=0.0)), "validation")
    assert found.what == "constructor" and "torch did not" in found.detail
    conforms(verdict_of(RejectsZeroLr, sgd_problem(STREAM, lr=0.25)))


# --- non-finite hyperparameters -----------------------------------------------------------


class RejectsNanLr(torch.optim.SGD):
    def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
        if isinstance(lr, float) and math.isnan(lr):
            raise ValueError("lr is NaN")
        super().__init__(params, lr=lr, **kwargs)


def _skip_nonfinite_lr(opt: Optimizer, k: int) -> None:
    """Ignores the step when lr is not finite: restores the parameters (a numeric
    difference, only with a non-finite hyperparameter)."""
    for group in opt.param_groups:
        if not math.isfinite(group["lr"]):
            for p in group["params"]:
                p.copy_(opt._start[p])  # type: ignore[attr-defined]


def _remember(opt: Optimizer, k: int) -> None:
    opt._start = {p: p.detach().clone() for p in params_of(opt)}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "cls",
    [RejectsNanLr, planted(after=_skip_nonfinite_lr, before=_remember)],
    ids=["rejects-nan-lr", "ignores-nan-lr-steps"],
)
def test_nonfinite_hyperparameter_is_reported_and_fails_only_strict(cls: type) -> None:
    problem = sgd_problem(STREAM, lr=math.nan)
    lenient = verdict_of(cls, problem)
    conforms(lenient)
    assert [n.kind for n in lenient.notes] == ["non-finite hyperparameter"]
    strict = verdict_of(cls, problem, strict=True)
    fails_with(strict, "non-finite hyperparameter")
    # the same defect on a finite problem is nothing; torch itself under strict is nothing
    conforms(verdict_of(cls, sgd_problem(STREAM, lr=0.5), strict=True))
    conforms(verdict_of(torch.optim.SGD, problem, strict=True))


def test_nonfinite_hyperparameters_found_in_groups_pairs_tensors_and_schedule() -> None:
    from optverify.properties.findings import nonfinite_hyperparameters

    base = sgd_problem(STREAM)
    assert nonfinite_hyperparameters(base) == []
    cases = {
        "lr": {"lr": math.inf},
        "betas": {"betas": (0.9, math.nan)},
        "eps": {"eps": torch.tensor(-math.inf)},
    }
    for key, hyper in cases.items():
        problem = Problem(base.params, base.groups, ({**base.hyper[0], **hyper},), base.grads)
        assert nonfinite_hyperparameters(problem) == [key]
    scheduled = Problem(base.params, base.groups, base.hyper, base.grads,
                        schedule={1: ({"momentum": math.nan},)})  # fmt: skip
    assert nonfinite_hyperparameters(scheduled) == ["momentum"]
    # finite tensors, complex tensors, ints and bools are not non-finite
    fine = {"lr": torch.tensor(0.5), "x": torch.tensor([math.nan, 1.0]), "n": 3, "b": True}
    problem = Problem(base.params, base.groups, (fine,), base.grads)
    assert nonfinite_hyperparameters(problem) == []


# --- non-finite values: kind, sign, overflow ----------------------------------------------


def _nan_for_inf(opt: Optimizer, k: int) -> None:
    for p in params_of(opt):
        p.copy_(torch.where(p.isinf(), math.nan, p))


def _flip_inf(opt: Optimizer, k: int) -> None:
    for p in params_of(opt):
        p.copy_(torch.where(p.isinf(), -p, p))


@pytest.mark.parametrize("plant", [_nan_for_inf, _flip_inf], ids=["nan-for-inf", "sign-of-inf"])
def test_nonfinite_kind(plant: Callable[[Optimizer, int], None]) -> None:
    """An infinite gradient gives torch -inf; NaN there, or +inf, is caught as a kind."""
    problem = sgd_problem([[math.inf, 0.5, -1.0], [0.5, 0.5, 0.5]])
    found = fails_with(verdict_of(planted(plant), problem), "non-finite kind", "param")
    assert found.step == 0 and math.isnan(found.target_ulps)
    assert math.isinf(found.max_abs)
    # the same defect where everything is finite does nothing
    conforms(verdict_of(planted(plant), sgd_problem(STREAM)))


class SquaringSGD(torch.optim.SGD):
    """Plain SGD taking |g| as sqrt(g*g): g*g overflows where torch's lr*g does not."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                p.add_(g.sign() * (g * g).sqrt(), alpha=-group["lr"])


def test_nonfinite_where_torch_is_finite_is_overflow() -> None:
    problem = sgd_problem([[1e200, 0.5, -1.0]], lr=1e-200)
    found = fails_with(verdict_of(SquaringSGD, problem), "overflow", "param")
    assert found.detail == "non-finite where torch is finite"
    assert found.cause is not None and "may overflow" in found.cause
    conforms(verdict_of(SquaringSGD, sgd_problem(STREAM)))


def _clamp_nonfinite(opt: Optimizer, k: int) -> None:
    for p in params_of(opt):
        p.copy_(torch.nan_to_num(p))


def test_finite_where_torch_overflows_is_overflow() -> None:
    """float32 θ - lr·g overflows in torch (3e38 + 3e38) but not in the exact maths: a
    target that clamps it is finite where torch is not, a range effect."""
    problem = sgd_problem([[-3e38, 0.5, -1.0]], p0=[3e38, 1.0, 1.0], dtype=torch.float32,
                          lr=1.0)  # fmt: skip
    found = fails_with(verdict_of(planted(_clamp_nonfinite), problem), "overflow", "param")
    assert found.detail == "finite where torch is not"
    conforms(verdict_of(planted(_clamp_nonfinite), sgd_problem(STREAM)))


def test_finite_where_the_maths_is_not_is_mismatch() -> None:
    """An infinite gradient makes θ infinite in the exact maths too: a target that clamps
    it lost a value (no range effect), a mismatch."""
    problem = sgd_problem([[math.inf, 0.5, -1.0]])
    found = fails_with(verdict_of(planted(_clamp_nonfinite), problem), "mismatch", "param")
    assert found.detail == "finite where the exact maths and torch are not"


def test_nonfinite_values_moved_are_mismatch() -> None:
    """inf where torch is finite and finite where torch has inf in one tensor: the values
    moved (a layout or indexing bug), not a range effect."""

    def roll(opt: Optimizer, k: int) -> None:
        for p in params_of(opt):
            p.copy_(p.roll(1))

    problem = sgd_problem([[math.inf, 0.5, -1.0]])
    found = fails_with(verdict_of(planted(roll), problem), "mismatch", "param")
    assert found.detail == "non-finite values in other places than torch's"


def test_same_nonfinite_values_as_torch_conform() -> None:
    """inf where torch has inf (and NaN where NaN): nothing to report."""
    problem = sgd_problem([[math.inf, 0.5, -1.0], [math.inf, 1.0, 1.0]])
    verdict = verdict_of(planted(nudge(0)), problem)
    conforms(verdict)
    assert verdict.notes == []


# --- p.grad modified ----------------------------------------------------------------------


def _scale_grads(opt: Optimizer, k: int) -> None:
    for p in params_of(opt):
        p.grad.mul_(2.0)


def test_grad_modified_by_step_is_mismatch() -> None:
    found = fails_with(verdict_of(planted(_scale_grads), sgd_problem(STREAM)), "mismatch")
    assert found.what == "grad modified" and found.step == 0 and found.param == 0
    conforms(verdict_of(planted(None), sgd_problem(STREAM)))


def test_grad_set_to_none_by_step_is_mismatch() -> None:
    def drop(opt: Optimizer, k: int) -> None:
        if k == 1:
            for p in params_of(opt):
                p.grad = None

    found = fails_with(verdict_of(planted(drop), sgd_problem(STREAM)), "mismatch")
    assert (found.what, found.step) == ("grad modified", 1)


# --- state only ---------------------------------------------------------------------------


def _double_momentum(opt: Optimizer, k: int) -> None:
    for p in params_of(opt):
        opt.state[p]["momentum_buffer"].mul_(2.0)


def test_state_only_difference_is_mismatch() -> None:
    """One step: parameters identical to torch's, the momentum buffer twice as large."""
    problem = sgd_problem(STREAM[:1], momentum=0.5)
    found = fails_with(verdict_of(planted(_double_momentum), problem), "mismatch", "state")
    assert found.key == "momentum_buffer" and found.step == 0 and found.param == 0
    conforms(verdict_of(planted(None), problem))


def test_state_entry_of_another_type_is_a_layout_note() -> None:
    """A state entry torch keeps as a tensor, kept as a string: reported, not failing."""

    def tag(opt: Optimizer, k: int) -> None:
        for p in params_of(opt):
            opt.state[p]["momentum_buffer"] = "buffer"

    problem = sgd_problem(STREAM[:1], momentum=0.5)
    verdict = verdict_of(planted(tag), problem)
    conforms(verdict)
    assert [n.kind for n in verdict.notes] == ["state layout"]


# --- a difference only at an intermediate step --------------------------------------------


def _detour(opt: Optimizer, k: int) -> None:
    if k == 1:
        for p in params_of(opt):
            p.add_(1.0)


def _back(opt: Optimizer, k: int) -> None:
    if k == 2:
        for p in params_of(opt):
            p.sub_(1.0)


def test_difference_only_at_an_intermediate_step_is_mismatch() -> None:
    problem = sgd_problem(STREAM)
    cls = planted(after=_detour, before=_back)
    target = record(factory(cls), problem)
    forloop = record(factory(torch.optim.SGD), problem)
    assert torch.equal(target.snapshots[2].params[0], forloop.snapshots[2].params[0])
    found = fails_with(verdict_of(cls, problem), "mismatch", "param")
    assert found.step == 1 and found.param == 0


# --- float64 precision: 1e-9 relative fails, a few ulps pass --------------------------------


def _relative(err: float) -> Callable[[Optimizer, int], None]:
    def plant(opt: Optimizer, k: int) -> None:
        for p in params_of(opt):
            p.mul_(1.0 + err)

    return plant


def test_float64_relative_error_of_1e9_is_mismatch() -> None:
    found = fails_with(verdict_of(planted(_relative(1e-9)), sgd_problem(STREAM)), "mismatch")
    assert found.what == "param" and found.step == 0
    assert found.target_ulps > found.budget_ulps > 0
    assert 1e-10 < found.max_rel < 1e-8
    assert "error against the exact maths" in str(found)


@pytest.mark.parametrize("ulps", [1, 3])
def test_float64_few_ulps_pass_as_precision(ulps: int) -> None:
    verdict = verdict_of(planted(nudge(ulps)), sgd_problem(STREAM))
    conforms(verdict)
    assert [n.kind for n in verdict.notes] == ["precision"]
    note = verdict.notes[0]
    assert note.target_ulps <= note.budget_ulps


def test_precision_budget_grows_with_the_step() -> None:
    """The same 12-ulp error fails at step 1 and passes from step 2 (budget ~ k + 1)."""

    def late(first: int) -> Callable[[Optimizer, int], None]:
        def plant(opt: Optimizer, k: int) -> None:
            if k == first:
                nudge(12)(opt, k)

        return plant

    problem = sgd_problem(STREAM, p0=[1.0, 1.0, 1.0])
    fails_with(verdict_of(planted(late(0)), problem), "mismatch")
    conforms(verdict_of(planted(late(2)), problem))


def test_reordered_sgd_with_weight_decay_is_precision() -> None:
    """p - lr*(g + wd*p) computed as (p - lr*wd*p) - lr*g: a reordering, within budget."""

    class Reordered(torch.optim.SGD):
        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:  # type: ignore[override]
            for group in self.param_groups:
                lr, wd = group["lr"], group["weight_decay"]
                for p in group["params"]:
                    p.copy_((p - lr * wd * p) - lr * p.grad)

    problem = sgd_problem(STREAM, p0=[0.1, -0.3, 0.7], lr=0.1, weight_decay=0.3)
    verdict = verdict_of(Reordered, problem)
    conforms(verdict)
    assert [n.kind for n in verdict.notes] == ["precision"]


# --- exact mode is exact ------------------------------------------------------------------


def test_exact_mode_fails_one_ulp_that_faithful_passes() -> None:
    problem = sgd_problem(STREAM)
    found = fails_with(verdict_of(planted(nudge(1)), problem, tolerance="exact"), "mismatch")
    assert found.what == "param" and found.step == 0 and "exact mode" in found.detail
    assert found.max_abs > 0
    conforms(verdict_of(planted(nudge(1)), problem))
    conforms(verdict_of(planted(None), problem, tolerance="exact"))


def test_exact_mode_compares_state_and_exceptions() -> None:
    problem = sgd_problem(STREAM[:1], momentum=0.5)
    found = fails_with(
        verdict_of(planted(_double_momentum), problem, tolerance="exact"), "mismatch", "state"
    )
    assert found.key == "momentum_buffer"
    found = fails_with(
        verdict_of(AcceptsNegativeLr, sgd_problem(STREAM, lr=-1.0), tolerance="exact"),
        "validation",
    )
    assert found.what == "constructor"
    found = fails_with(
        verdict_of(RejectsNanLr, sgd_problem(STREAM, lr=math.nan), tolerance="exact"),
        "non-finite hyperparameter",
    )


def test_exact_tolerance_is_zero() -> None:
    assert tolerances.EXACT == (0.0, 0.0, True)
    assert tolerances.exact(F64) == tolerances.EXACT
    assert tolerances.exact(torch.complex64, "Adam") == tolerances.EXACT
    assert tolerances.EXACT_EXCEPTIONS == {}


# --- every torch mode takes part ----------------------------------------------------------


def test_every_mode_of_the_spec_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """judge_problem records the target and one run per torch mode it is given."""
    seen: list[dict[str, Any]] = []
    real = conformance.record

    def spy(make: Any, problem: Problem, *args: Any, **kwargs: Any) -> Trajectory:
        opt = make([{"params": [torch.zeros(1, requires_grad=True)], "lr": 0.1}])
        seen.append({k: opt.defaults.get(k) for k in ("foreach", "fused")})
        return real(make, problem, *args, **kwargs)

    monkeypatch.setattr(conformance, "record", spy)
    conforms(verdict_of(torch.optim.SGD, sgd_problem(STREAM)))
    assert seen[1:] == [
        {"foreach": False, "fused": None},
        {"foreach": True, "fused": None},
        {"foreach": None, "fused": True},
    ]


def _snap(value: float, dtype: torch.dtype = F64) -> Snapshot:
    return Snapshot([torch.tensor([value], dtype=dtype)], [{}])


def _trajectory(*values: float, dtype: torch.dtype = F64) -> Trajectory:
    return Trajectory({k: _snap(v, dtype) for k, v in enumerate(values)})


ONE = Problem(params=(_t([1.0]),), groups=((0,),), hyper=({"lr": 0.5},),
              grads=((_t([0.0]),),))  # fmt: skip
U = 2.0**-53  # unit roundoff of float64; the scale of the problem is 1


@pytest.mark.parametrize("mode", ["foreach", "fused"])
def test_each_mode_widens_the_budget(mode: str) -> None:
    """torch's spread sets the budget: with ``mode`` 6u from the for-loop (within the 8u
    that keeps it a reference), a target 30u away conforms (30 <= 4*6 + 8); without
    ``mode`` it does not (30 > 8)."""
    forloop = _trajectory(1.0)
    refs = {"forloop": forloop, mode: _trajectory(1.0 + 6 * U)}
    target = _trajectory(1.0 + 30 * U)
    verdict = judge(ONE, target, refs, lambda: None)
    conforms(verdict)
    assert [n.kind for n in verdict.notes] == ["precision"]
    alone = judge(ONE, target, {"forloop": forloop}, lambda: None)
    assert alone.finding is not None and alone.finding.kind == "mismatch"


def test_the_forloop_takes_part_against_the_oracle() -> None:
    """With an oracle, the for-loop's own error widens the budget as any mode's does."""
    oracle = _trajectory(1.0)
    forloop = _trajectory(1.0 + 2**-40)
    target = _trajectory(1.0 + 3 * 2**-40)
    verdict = judge(ONE, target, {"forloop": forloop}, lambda: oracle)
    conforms(verdict)
    far = judge(ONE, _trajectory(1.0 + 6 * 2**-40), {"forloop": forloop}, lambda: oracle)
    assert far.finding is not None and far.finding.kind == "mismatch"


def test_oracle_runs_at_most_once_and_only_when_needed() -> None:
    """No oracle when the target reproduces torch (all modes agreeing); once when the
    target is off, however many values are compared."""
    calls: list[int] = []

    def oracle() -> Trajectory | None:
        calls.append(1)
        return None

    refs = {"forloop": _trajectory(1.0, 1.0), "foreach": _trajectory(1.0, 1.0)}
    conforms(judge(ONE, _trajectory(1.0, 1.0), refs, oracle))
    assert calls == []
    verdict = judge(ONE, _trajectory(1.0 + 4 * U, 1.0 + 4 * U), refs, oracle)
    conforms(verdict)
    assert calls == [1]


def test_target_nonfinite_of_a_kind_some_mode_has() -> None:
    """Where torch's implementations disagree on finiteness, a non-finite target must be of
    a kind one of them has, and a finite one within budget."""
    refs = {"forloop": _trajectory(1.0), "fused": _trajectory(math.inf)}
    conforms(judge(ONE, _trajectory(math.inf), refs, lambda: None))
    found = judge(ONE, _trajectory(-math.inf), refs, lambda: None).finding
    assert found is not None and found.kind == "non-finite kind"
    found = judge(ONE, _trajectory(math.nan), refs, lambda: None).finding
    assert found is not None and found.kind == "non-finite kind"
    conforms(judge(ONE, _trajectory(1.0 + 2 * U), refs, lambda: None))
    found = judge(ONE, _trajectory(1.5), refs, lambda: None).finding
    assert found is not None and found.kind == "mismatch"


def test_target_of_another_nonfinite_kind_than_every_mode() -> None:
    refs = {"forloop": _trajectory(math.inf), "fused": _trajectory(math.nan)}
    conforms(judge(ONE, _trajectory(math.nan), refs, lambda: None))
    found = judge(ONE, _trajectory(-math.inf), refs, lambda: None).finding
    assert found is not None and found.kind == "non-finite kind"
    found = judge(ONE, _trajectory(2.0), refs, lambda: None).finding
    assert found is not None and found.kind == "mismatch"  # the maths (for-loop) is inf too
    found = judge(ONE, _trajectory(2.0), refs, lambda: _trajectory(1.0)).finding
    assert found is not None and found.kind == "overflow"  # torch overflowed, the maths not


# --- a torch implementation that departs from the maths is left out -----------------------


def test_departing_torch_mode_is_left_out_of_the_references() -> None:
    """A foreach path 1e-6 relative off the for-loop is no reference: a target that copies
    it bit for bit is caught; one a few ulps off stays a reference."""
    problem = sgd_problem(STREAM)
    forloop = record(factory(torch.optim.SGD), problem)
    for err, expect in ((1e-6, "mismatch"), (4 * U, None)):
        off = record(factory(planted(_relative(err))), problem)
        target = record(factory(planted(_relative(err))), problem, watch_grads=True)
        verdict = judge(problem, target, {"forloop": forloop, "foreach": off}, lambda: None)
        found = verdict.finding
        assert (found.kind if found else None) == expect, str(found)


def test_raising_torch_mode_is_left_out_of_the_references() -> None:
    """A fused path that raises at step 2 where the for-loop does not is no reference: the
    steps after it are still compared."""

    def boom(opt: Optimizer, k: int) -> None:
        if k == 1:
            raise RuntimeError("fused kernel failed")

    def late_bug(opt: Optimizer, k: int) -> None:
        if k == 2:
            _relative(1e-3)(opt, k)

    problem = sgd_problem(STREAM)
    refs = {
        "forloop": record(factory(torch.optim.SGD), problem),
        "fused": record(factory(planted(before=boom)), problem),
    }
    assert refs["fused"].error_step == 1
    target = record(factory(planted(late_bug)), problem, watch_grads=True)
    found = judge(problem, target, refs, lambda: None).finding
    assert found is not None and (found.kind, found.step) == ("mismatch", 2)


def test_mode_raising_as_the_forloop_does_stays_a_reference() -> None:
    def boom(opt: Optimizer, k: int) -> None:
        if k == 2:
            raise RuntimeError("stop")

    problem = sgd_problem(STREAM)
    refs = {
        "forloop": record(factory(planted(before=boom)), problem),
        "foreach": record(factory(planted(before=boom, after=nudge(1))), problem),
    }
    target = record(factory(planted(before=boom, after=nudge(6))), problem, watch_grads=True)
    conforms(judge(problem, target, refs, lambda: None))
    del refs["foreach"]
    found = judge(problem, target, refs, lambda: None).finding
    assert found is not None and found.kind == "mismatch"


# --- closure calls ------------------------------------------------------------------------


def _quadratic(params: Any) -> Tensor:
    return ((params[0] - 1.0) ** 2).sum()


LBFGS_PROBLEM = Problem(
    params=(_t([0.5, -1.5, 2.0]),), groups=((0,),), hyper=({"lr": 0.5, "max_iter": 3},),
    objective=_quadratic, steps=2,
)  # fmt: skip


class ExtraEvaluationLBFGS(torch.optim.LBFGS):
    """Evaluates the closure once more than torch before each step (same point, same
    gradients, same parameters and state)."""

    extra = 1

    def step(self, closure: Any) -> Any:  # type: ignore[override]
        for _ in range(self.extra):
            with torch.enable_grad():
                closure()
        return super().step(closure)


class HonestLBFGS(ExtraEvaluationLBFGS):
    extra = 0


def test_closure_call_count_is_mismatch() -> None:
    spec = SPECS["LBFGS"]
    found = fails_with(verdict_of(ExtraEvaluationLBFGS, LBFGS_PROBLEM, spec=spec), "mismatch")
    assert found.what == "closure calls" and found.step == 0
    assert "times" in found.detail
    conforms(verdict_of(HonestLBFGS, LBFGS_PROBLEM, spec=spec))
    conforms(verdict_of(HonestLBFGS, LBFGS_PROBLEM, spec=spec, tolerance="exact"))
    found = fails_with(
        verdict_of(ExtraEvaluationLBFGS, LBFGS_PROBLEM, spec=spec, tolerance="exact"),
        "mismatch",
    )
    assert found.what == "closure calls"


# --- what a finding says: ulps, worst element, scale, messages ------------------------------


def _traj(rows: list[list[float]], key: str | None = None) -> Trajectory:
    """Snapshots of one parameter (``key``: one state entry, the parameter fixed at 1)."""
    out = Trajectory()
    for k, row in enumerate(rows):
        value = torch.tensor(row, dtype=F64)
        if key is None:
            out.snapshots[k] = Snapshot([value], [{}])
        else:
            out.snapshots[k] = Snapshot([torch.ones(len(row), dtype=F64)], [{key: value}])
    return out


def _problem_at(values: list[float]) -> Problem:
    return Problem(params=(_t(values),), groups=((0,),), hyper=({"lr": 0.5},),
                   grads=((_t([0.0] * len(values)),),))  # fmt: skip


def test_finding_reports_the_worst_element_in_ulps_of_the_scale() -> None:
    problem = _problem_at([1.0, 1.0])
    refs = {"forloop": _traj([[1.0, 1.0]])}
    found = judge(problem, _traj([[1.0 + 20 * U, 1.0 + 64 * U]]), refs, lambda: None).finding
    assert found is not None and found.kind == "mismatch"
    assert (found.target_ulps, found.torch_ulps, found.budget_ulps) == (64.0, 0.0, 8.0)
    assert found.max_abs == 64 * U and found.max_rel == 64 * U
    assert "(error against the exact maths: target 64 ulp, torch 0 ulp, allowed 8 ulp)" in str(
        found
    )
    found = judge(problem, _traj([[1.0 + 64 * U, 1.0 + 20 * U]]), refs, lambda: None).finding
    assert found is not None and found.target_ulps == 64.0


def test_ulps_are_formatted_for_reading() -> None:
    from optverify.properties.findings import _ulps

    assert _ulps(math.inf) == "inf"
    assert _ulps(12.345) == "12.3 ulp"
    assert _ulps(2.5e7) == "2.50e+07 ulp"


def test_exception_messages_are_one_line() -> None:
    from optverify.properties.harness import one_line as _one_line

    assert _one_line(ValueError("bad lr\nmore")) == "ValueError: bad lr"
    assert _one_line(ValueError()) == "ValueError"
    problem = sgd_problem(STREAM, lr=-1.0)
    found = fails_with(verdict_of(_reject_negative_lr(TypeError), problem), "validation")
    assert found.detail == (
        "target raised TypeError: Invalid learning rate: -1.0; "
        "torch raised ValueError: Invalid learning rate: -1.0"
    )
    assert isinstance(found.target_value, TypeError)
    assert isinstance(found.reference_value, ValueError)


def test_cancelling_update_is_judged_on_the_initial_parameter() -> None:
    """1 - 0.5*2 = 0: an error of a few ulps of 1 (the operands) passes; 1e-12 fails."""
    problem = sgd_problem([[2.0, 2.0]], p0=[1.0, 1.0])
    refs = {"forloop": _traj([[0.0, 0.0]])}
    conforms(judge(problem, _traj([[4 * U, 0.0]]), refs, lambda: None))
    found = judge(problem, _traj([[1e-12, 0.0]]), refs, lambda: None).finding
    assert found is not None and found.kind == "mismatch"


def test_state_scale_is_the_states_own_history() -> None:
    """A momentum buffer that was 1e6 and cancels to 0 carries errors of the size of 1e6
    (not of the parameter, 1)."""
    problem = _problem_at([1.0])
    refs = {"forloop": _traj([[1e6], [0.0]], key="buf")}
    target = _traj([[1e6], [1e6 * 4 * U]], key="buf")
    conforms(judge(problem, target, refs, lambda: None))
    target = _traj([[1e6], [1e-3]], key="buf")
    found = judge(problem, target, refs, lambda: None).finding
    assert found is not None and (found.kind, found.key, found.step) == ("mismatch", "buf", 1)


@pytest.mark.parametrize("before", [math.nan, math.inf, -math.inf])
def test_nonfinite_history_does_not_widen_the_scale(before: float) -> None:
    """A value that was non-finite at step 1 and 1e-3 at step 2 is judged on 1e-3."""
    problem = _problem_at([1e-3])
    refs = {"forloop": _traj([[before], [1e-3]])}
    found = judge(problem, _traj([[before], [1e-3 + 1e-15]]), refs, lambda: None).finding
    assert found is not None and (found.kind, found.step) == ("mismatch", 1)


def test_oracle_that_failed_is_not_used() -> None:
    """An oracle run that raised falls back to torch's for-loop as the reference."""
    broken = _trajectory(1.0 + 2**-10)
    broken.error, broken.error_step = RuntimeError("oracle failed"), 1
    refs = {"forloop": _trajectory(1.0)}
    found = judge(ONE, _trajectory(1.0 + 2**-10), refs, lambda: broken).finding
    assert found is not None and found.kind == "mismatch"
    good = _trajectory(1.0 + 2**-10)
    conforms(judge(ONE, _trajectory(1.0 + 2**-10), refs, lambda: good))


def test_one_note_per_kind_the_worst_first_kept_on_ties() -> None:
    problem = Problem(params=(_t([1.0]), _t([1.0]), _t([1.0])), groups=((0, 1, 2),),
                      hyper=({"lr": 0.5},), grads=((_t([0.0]),) * 3,))  # fmt: skip
    refs = {"forloop": Trajectory({0: Snapshot([_t([1.0])] * 3, [{}, {}, {}])})}

    def target(*ulps: int) -> Trajectory:
        return Trajectory({0: Snapshot([_t([1.0 + 2 * n * U]) for n in ulps], [{}, {}, {}])})

    notes = judge(problem, target(1, 3, 3), refs, lambda: None).notes
    assert [(n.kind, n.param) for n in notes] == [("precision", 1)]
    notes = judge(problem, target(3, 1, 2), refs, lambda: None).notes
    assert [(n.kind, n.param) for n in notes] == [("precision", 0)]


def test_integer_state_off_by_one_is_mismatch() -> None:
    problem = _problem_at([1.0])
    ref = Trajectory({0: Snapshot([_t([1.0])], [{"count": torch.tensor([2])}])})
    target = Trajectory({0: Snapshot([_t([1.0])], [{"count": torch.tensor([3])}])})
    found = judge(problem, target, {"forloop": ref}, lambda: None).finding
    assert found is not None and found.kind == "mismatch"


# --- tolerances -----------------------------------------------------------------------------


def test_budgets_per_dtype() -> None:
    for dtype, budget in tolerances.BUDGETS.items():
        assert tolerances.budget(dtype) is budget
        assert budget.factor >= 1 and budget.ulps > 0 and budget.evidence
    assert tolerances.budget(torch.complex64) is tolerances.BUDGETS[torch.float32]
    assert tolerances.budget(torch.complex128) is tolerances.BUDGETS[F64]
    assert tolerances.budget(torch.int64) is tolerances.BUDGETS[F64]
    assert tolerances.real_dtype(torch.complex64) == torch.float32
    assert tolerances.real_dtype(torch.bfloat16) == torch.bfloat16


def test_documented_exact_exception_applies_to_its_optimiser_and_dtype(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loose = tolerances.Tol(1e-15, 0.0)
    monkeypatch.setitem(tolerances.EXACT_EXCEPTIONS, ("Adam", torch.float32), (loose, "why"))
    assert tolerances.exact(torch.float32, "Adam") is loose
    assert tolerances.exact(torch.complex64, "Adam") is loose
    assert tolerances.exact(F64, "Adam") == tolerances.EXACT
    assert tolerances.exact(torch.float32, "SGD") == tolerances.EXACT
    assert tolerances.exact(torch.float32) == tolerances.EXACT


def test_faithful_tolerance_per_dtype() -> None:
    assert tolerances.faithful(torch.complex128) is tolerances.FAITHFUL[F64]
    assert tolerances.faithful(torch.float16) is tolerances.FAITHFUL[torch.float16]
    assert all(not t.same_nonfinite_kind for t in tolerances.FAITHFUL.values())
    rtols = [tolerances.FAITHFUL[d].rtol for d in (F64, torch.float32, torch.float16)]
    assert rtols == sorted(rtols) and rtols[0] <= 1e-12


# --- exact mode: what the finding carries -------------------------------------------------


def test_exact_mode_finding_carries_the_divergence() -> None:
    found = fails_with(verdict_of(planted(nudge(1)), sgd_problem(STREAM), tolerance="exact"),
                       "mismatch", "param")  # fmt: skip
    assert (found.param, found.step, found.mode) == (0, 0, "forloop")
    assert 0 < found.max_rel < 1e-15 and found.max_abs > 0
    assert isinstance(found.target_value, Tensor) and isinstance(found.reference_value, Tensor)
    assert not torch.equal(found.target_value, found.reference_value)
    found = fails_with(
        verdict_of(AcceptsNegativeLr, sgd_problem(STREAM, lr=-1.0), tolerance="exact"),
        "validation",
    )
    assert found.step == -1 and found.target_value is None
    assert isinstance(found.reference_value, ValueError)
    assert found.detail.startswith("target accepted, torch raised ValueError: Invalid")


def test_exact_mode_step_exception_of_another_type_is_validation() -> None:
    dense = _t([0.5, 0.25, -1.0])
    problem = Problem(
        params=(_t([1.0, -2.0, 3.0]),), groups=((0,),), hyper=({"lr": 0.5},),
        grads=((dense,), (dense.to_sparse(),)),
    )  # fmt: skip
    spec = SPECS["Adam"]
    found = fails_with(
        verdict_of(_step_raises(ValueError), problem, spec=spec, tolerance="exact"), "validation"
    )
    assert (found.what, found.step) == ("exception", 1)
    conforms(verdict_of(_step_raises(RuntimeError), problem, spec=spec, tolerance="exact"))


# --- every path of the comparison: the finding's fields -----------------------------------


def _two_params(buf0: list[Any], buf1: list[Any]) -> Trajectory:
    """Parameter 1's state entry ``buf``: ``buf0`` after step 1, ``buf1`` after step 2."""
    out = Trajectory()
    for k, row in enumerate((buf0, buf1)):
        value: Any = torch.tensor(row, dtype=F64) if isinstance(row, list) else row
        out.snapshots[k] = Snapshot([_t([1.0]), _t([1.0])], [{}, {"buf": value}])
    return out


TWO = Problem(params=(_t([1.0]), _t([1.0])), groups=((0, 1),), hyper=({"lr": 0.5},),
              grads=((_t([0.0]), _t([0.0])),) * 2)  # fmt: skip


@pytest.mark.parametrize(
    ("target", "refs", "kind", "detail"),
    [
        ([math.inf], {"forloop": [1.0]}, "overflow", "non-finite where torch is finite"),
        ([-math.inf], {"forloop": [math.inf]}, "non-finite kind",
         "a non-finite value of another kind than torch's"),
        ([1.0], {"forloop": [math.inf]}, "mismatch",
         "finite where the exact maths and torch are not"),
        ([2.0], {"forloop": [1.0]}, "mismatch", "farther from the exact maths than torch"),
        ([-math.inf], {"forloop": [1.0], "foreach": [math.inf]}, "non-finite kind",
         "a non-finite value of another kind than torch's"),
        ([math.inf, math.inf], {"forloop": [math.inf, 1.0], "foreach": [math.inf, 1.0]},
         "overflow", "non-finite where torch is finite"),
        ("text", {"forloop": [1.0]}, "state layout", "'text' where torch has tensor([1.], "
         "dtype=torch.float64)"),
        ([1.0, 2.0], {"forloop": [1.0]}, "state layout", "shape (2,) where torch has (1,)"),
    ],
)  # fmt: skip
def test_each_comparison_path_names_its_finding(
    target: Any, refs: dict[str, list[float]], kind: str, detail: str
) -> None:
    start = [1.0] * (len(target) if isinstance(target, list) else 1)
    runs = {m: _two_params(start, v) for m, v in refs.items()}
    verdict = judge(TWO, _two_params(start, target), runs, lambda: None)
    found = verdict.finding if verdict.finding is not None else verdict.notes[0]
    assert (found.kind, found.step, found.what, found.param, found.key, found.mode) == (
        kind, 1, "state", 1, "buf", "forloop",
    )  # fmt: skip
    assert found.detail == detail
    assert str(found).startswith(f"{kind}: step 2: param 1 state['buf'] state: {detail}")
    if kind != "state layout":
        assert isinstance(found.oracle_value, Tensor)


def test_precision_note_fields() -> None:
    runs = {"forloop": _two_params([1.0], [1.0])}
    notes = judge(TWO, _two_params([1.0], [1.0 + 4 * U]), runs, lambda: None).notes
    assert [(n.kind, n.step, n.param, n.key, n.mode) for n in notes] == [
        ("precision", 1, 1, "buf", "forloop")
    ]
    assert notes[0].detail == "within budget, not bit for bit"
    assert isinstance(notes[0].oracle_value, Tensor) and notes[0].what == "state"


def test_parameter_of_another_shape_or_type_is_mismatch() -> None:
    refs = {"forloop": _traj([[1.0]])}
    found = judge(ONE, _traj([[1.0, 1.0]]), refs, lambda: None).finding
    assert found is not None and (found.kind, found.detail) == (
        "mismatch", "shape (2,) where torch has (1,)")  # fmt: skip


def test_error_exactly_at_the_budget_passes() -> None:
    """allowed = 8u * scale * (k + 1): at step 1 on a scale of 1, 8u passes, 10u fails."""
    refs = {"forloop": _trajectory(1.0)}
    conforms(judge(ONE, _trajectory(1.0 + 8 * U), refs, lambda: None))
    found = judge(ONE, _trajectory(1.0 + 10 * U), refs, lambda: None).finding
    assert found is not None and found.kind == "mismatch"


def test_torch_spread_widens_the_budget_element_by_element() -> None:
    """foreach's error on a large element does not excuse the target on a small one."""
    problem = _problem_at([1e6, 1.0])
    refs = {"forloop": _traj([[1e6, 1.0]]), "foreach": _traj([[1e6 * (1 + 4 * U), 1.0]])}
    found = judge(problem, _traj([[1e6, 1.0 + 20 * U]]), refs, lambda: None).finding
    assert found is not None and found.kind == "mismatch"


def test_references_lacking_a_state_entry() -> None:
    """An oracle or a torch mode without the state entry: the for-loop's value is used."""
    bare = Trajectory({k: Snapshot([_t([1.0]), _t([1.0])], [{}, {}]) for k in (0, 1)})
    refs = {"forloop": _two_params([1.0], [1.0]), "foreach": bare}
    found = judge(TWO, _two_params([1.0], [2.0]), refs, lambda: bare).finding
    assert found is not None and (found.kind, found.key) == ("mismatch", "buf")


def test_mode_raising_another_exception_type_is_left_out() -> None:
    def raises(error: type[Exception]) -> Callable[[Optimizer, int], None]:
        def boom(opt: Optimizer, k: int) -> None:
            if k == 1:
                raise error("stop")

        return boom

    problem = sgd_problem(STREAM)
    refs = {
        "forloop": record(factory(planted(before=raises(RuntimeError))), problem),
        "foreach": record(factory(planted(before=raises(TypeError), after=nudge(1))), problem),
    }
    target = record(factory(planted(before=raises(RuntimeError), after=nudge(6))), problem)
    found = judge(problem, target, refs, lambda: None).finding
    assert found is not None and (found.kind, found.step) == ("mismatch", 0)


def test_finding_text() -> None:
    assert (
        str(Finding("mismatch", 0, "param", "d", param=2)) == "mismatch: step 1: param 2 param: d"
    )
    assert (
        str(Finding("validation", -1, "constructor", "d"))
        == "validation: constructor: constructor: d"
    )
    text = str(Finding("mismatch", 3, "state", "d", key="k", target_ulps=9.0, torch_ulps=1.0,
                       budget_ulps=8.0, cause="why"))  # fmt: skip
    assert text == (
        "mismatch: step 4: state['k'] state: d (error against the exact maths: target 9 ulp, "
        "torch 1 ulp, allowed 8 ulp); likely cause: why"
    )


# --- causes and the oracle ----------------------------------------------------------------


def test_causes_named_in_findings() -> None:
    found = fails_with(verdict_of(planted(_nan_for_inf), sgd_problem([[math.inf, 0.5, -1.0]])),
                       "non-finite kind")  # fmt: skip
    assert found.cause == "NaN where torch has inf (or the reverse): e.g. inf - inf or 0·inf"
    found = fails_with(verdict_of(SquaringSGD, sgd_problem([[1e200, 0.5, -1.0]], lr=1e-200)),
                       "overflow")  # fmt: skip
    assert found.cause is not None and found.cause.startswith(
        "an intermediate may overflow: |g| reaches 1e+200"
    )

    class NeedsArgument(torch.optim.SGD):
        def __init__(self, params: Any, extra: int, **kw: Any) -> None:
            super().__init__(params, **kw)

    found = fails_with(verdict_of(NeedsArgument, sgd_problem(STREAM)), "validation")
    assert found.cause == "the target's constructor or step() takes other arguments than torch's"
    found = fails_with(verdict_of(_reject_negative_lr(TypeError), sgd_problem(STREAM, lr=-1.0)),
                       "validation")  # fmt: skip
    assert found.cause is None and found.mode == "forloop"
    found = fails_with(verdict_of(planted(_scale_grads), sgd_problem(STREAM)), "mismatch")
    assert found.detail == "step() changed p.grad"


def test_tensor_lr_of_another_dtype_is_named_and_judged_against_the_oracle() -> None:
    """A float32 tensor lr on float64 parameters: torch computes with the rounded lr, the
    oracle with its exact value; a target using the exact value is closer to the maths."""
    lr = torch.tensor(0.1, dtype=torch.float32)
    problem = Problem(params=(_t([1.0, -2.0, 3.0]),), groups=((0,),), hyper=({"lr": lr},),
                      grads=tuple((_t(g),) for g in STREAM))  # fmt: skip

    class ExactLr(torch.optim.SGD):
        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:  # type: ignore[override]
            for group in self.param_groups:
                for p in group["params"]:
                    p.add_(p.grad, alpha=-float(group["lr"]))

    conforms(verdict_of(ExactLr, problem))
    found = fails_with(verdict_of(planted(_relative(1e-9)), problem), "mismatch")
    assert found.cause == (
        "lr is a torch.float32 tensor on torch.float64 parameters: torch computes with it in "
        "torch.float32"
    )
    assert found.oracle_value.dtype == F64


def test_float32_problem_is_judged_against_the_float64_oracle() -> None:
    problem = sgd_problem(STREAM, dtype=torch.float32, lr=0.1)
    verdict = verdict_of(planted(nudge(1)), problem)
    conforms(verdict)
    found = fails_with(verdict_of(planted(_relative(1e-4)), problem), "mismatch")
    assert found.oracle_value.dtype == F64 and found.target_value.dtype == torch.float32
    assert found.cause is None


def test_overflow_where_torch_keeps_no_digit_is_not_judged() -> None:
    """float16, the maths moves θ to -0.18 and torch's for-loop to 58400 (its own rounding
    of a tiny second moment): a target that overflows to inf there is not judged on it; where
    torch is close to the maths the same inf is an overflow."""
    h = torch.float16
    oracle = _trajectory(-0.18, dtype=F64)
    hopeless = {"forloop": _trajectory(58400.0, dtype=h)}
    verdict = judge(ONE, _trajectory(math.inf, dtype=h), hopeless, lambda: oracle)
    assert verdict.finding is None, str(verdict.finding)
    close = {"forloop": _trajectory(-0.18, dtype=h)}
    found = judge(ONE, _trajectory(math.inf, dtype=h), close, lambda: oracle).finding
    assert found is not None and found.kind == "overflow"


def test_nonfinite_kind_is_not_judged_where_torch_has_another_than_the_maths() -> None:
    """float16: the maths gives -2.5e5 (beyond the range: -inf once rounded); torch's
    for-loop has +inf: a target with NaN there is not judged on the kind. Where torch has
    the maths' -inf, the same NaN is a non-finite kind finding."""
    h = torch.float16
    oracle = _trajectory(-2.5e5, dtype=F64)
    wrong = {"forloop": _trajectory(math.inf, dtype=h)}
    verdict = judge(ONE, _trajectory(math.nan, dtype=h), wrong, lambda: oracle)
    assert verdict.finding is None, str(verdict.finding)
    right = {"forloop": _trajectory(-math.inf, dtype=h)}
    found = judge(ONE, _trajectory(math.nan, dtype=h), right, lambda: oracle).finding
    assert found is not None and found.kind == "non-finite kind"
