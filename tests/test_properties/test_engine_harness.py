"""Self-tests of the lock-step harness (:mod:`optverify.properties.harness`).

The harness is the exact mode of the verdict and the engine of the differential claims:
each comparison rule (exceptions, parameters, state, gradients, losses, closure calls, the
NaN/inf rules, the relative scale, reloads, schedules, strides) gets a hand-built problem
and an optimiser that breaks only that rule. No Hypothesis: small tensors, a few steps.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.optim import Optimizer

from optverify.properties.comparison import compare_values
from optverify.properties.harness import (
    Divergence,
    Problem,
    fresh_params,
    make_param_groups,
    run_lockstep,
    run_problem,
)
from optverify.properties.targets import factory
from optverify.properties.tolerances import EXACT, Tol

F64 = torch.float64
U = 2.0**-53
LOOSE = Tol(1e-12, 0.0, same_nonfinite_kind=True)
ANY_NONFINITE = Tol(1e-12, 0.0, same_nonfinite_kind=False)


def _t(values: list[float], dtype: torch.dtype = F64) -> Tensor:
    return torch.tensor(values, dtype=dtype)


def exact(_: torch.dtype) -> Tol:
    return EXACT


def loose(_: torch.dtype) -> Tol:
    return LOOSE


STREAM = [[0.5, 0.25, -1.0], [1.0, -0.5, 0.75], [-0.25, 2.0, 0.5]]


def problem(grads: list[list[float]] = STREAM, **hyper: Any) -> Problem:
    return Problem(
        params=(_t([1.0, -2.0, 3.0]),), groups=((0,),), hyper=({"lr": 0.5, **hyper},),
        grads=tuple((_t(g),) for g in grads),
    )  # fmt: skip


class Hooked(torch.optim.SGD):
    """torch's SGD; ``after(self, k)`` runs after step ``k`` (the planted defect)."""

    def __init__(self, params: Any, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.k = 0

    def after(self, k: int) -> None:
        pass

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = super().step(closure)
        with torch.no_grad():
            self.after(self.k)
        self.k += 1
        return loss


def params_of(opt: Optimizer) -> list[Tensor]:
    return [p for g in opt.param_groups for p in g["params"]]


def lockstep(target: Any, prob: Problem, tol: Any = exact, **kw: Any) -> Divergence | None:
    return run_lockstep(factory(target), factory(torch.optim.SGD), prob, tol, **kw)


# --- compare_values -----------------------------------------------------------------------


def test_equal_tensors_agree_with_zero_error() -> None:
    assert compare_values(_t([1.0, 2.0]), _t([1.0, 2.0]), exact) == (True, 0.0, 0.0, "")


def test_one_ulp_fails_exact_with_its_size() -> None:
    ok, mabs, mrel, why = compare_values(_t([1.0, 2.0 + 4 * U]), _t([1.0, 2.0]), exact)
    assert (ok, mabs, why) == (False, 4 * U, "values differ")
    assert mrel == pytest.approx(2 * U, rel=1e-12)


def test_relative_tolerance_and_its_scale() -> None:
    assert compare_values(_t([1.0 + 1e-13]), _t([1.0]), loose)[0]
    assert not compare_values(_t([1.0 + 1e-11]), _t([1.0]), loose)[0]
    # atol: absolute floor
    absolute = Tol(0.0, 1e-9)
    assert compare_values(_t([5e-10]), _t([0.0]), lambda d: absolute)[0]
    assert not compare_values(_t([2e-9]), _t([0.0]), lambda d: absolute)[0]
    # an update that cancels to ~0 is judged on the value before the step
    assert not compare_values(_t([1e-20]), _t([0.0]), loose)[0]
    assert compare_values(_t([1e-20]), _t([0.0]), loose, before=_t([1.0]))[0]
    assert not compare_values(_t([1e-20]), _t([0.0]), exact, before=_t([1.0]))[0]
    assert not compare_values(_t([1e-20]), _t([0.0]), loose, before=_t([1.0, 2.0]))[0]
    nan_before = _t([math.nan])
    assert not compare_values(_t([1e-20]), _t([0.0]), loose, before=nan_before)[0]
    inf_before = _t([math.inf])
    assert not compare_values(_t([1e-20]), _t([0.0]), loose, before=inf_before)[0]


def test_max_errors_over_finite_differing_elements() -> None:
    ok, mabs, mrel, _ = compare_values(_t([1.5, 4.0, 0.0]), _t([1.0, 4.0, 0.0]), exact)
    assert (ok, mabs) == (False, 0.5)
    assert mrel == pytest.approx(0.5 / 1.5)
    ok, mabs, mrel, _ = compare_values(_t([0.0]), _t([0.0]), loose)
    assert (ok, mabs, mrel) == (True, 0.0, 0.0)


@pytest.mark.parametrize(
    ("a", "e", "same_kind_ok", "any_kind_ok"),
    [
        (math.nan, math.nan, True, True),
        (math.inf, math.inf, True, True),
        (-math.inf, -math.inf, True, True),
        (math.nan, math.inf, False, True),
        (math.inf, math.nan, False, True),
        (math.inf, -math.inf, False, True),
        (math.nan, 1.0, False, False),
        (1.0, math.inf, False, False),
        (-math.inf, 1.0, False, False),
    ],
)
def test_nonfinite_rules(a: float, e: float, same_kind_ok: bool, any_kind_ok: bool) -> None:
    same = compare_values(_t([a, 1.0]), _t([e, 1.0]), loose)
    anyk = compare_values(_t([a, 1.0]), _t([e, 1.0]), lambda d: ANY_NONFINITE)
    assert (same[0], anyk[0]) == (same_kind_ok, any_kind_ok)
    if not same_kind_ok:
        assert same[1] == math.inf and same[2] == math.inf
    if not any_kind_ok:
        assert anyk[1] == math.inf


def test_finite_differences_next_to_nonfinite_elements_still_count() -> None:
    ok, mabs, _, _ = compare_values(_t([math.nan, 2.0]), _t([math.nan, 1.0]), exact)
    assert (ok, mabs) == (False, 1.0)


def test_complex_is_compared_component_wise() -> None:
    a = torch.tensor([1 + 2j], dtype=torch.complex128)
    assert compare_values(a, a.clone(), exact)[0]
    ok, mabs, _, _ = compare_values(a + 1e-3j, a, exact)
    assert not ok and mabs == pytest.approx(1e-3)
    assert compare_values(a + 1e-20j, a, loose, before=torch.tensor([2 + 0j]))[0]


def test_type_shape_dtype_and_sparse() -> None:
    ok, _, _, why = compare_values(1.0, _t([1.0]), exact)
    assert (ok, why) == (False, "type float != Tensor")
    ok, _, _, why = compare_values(_t([1.0]), 1.0, exact)
    assert (ok, why) == (False, "type Tensor != Tensor")
    ok, mabs, _, why = compare_values(_t([1.0]), _t([1.0, 2.0]), exact)
    assert (ok, why) == (False, "shape (1,) != (2,)") and math.isnan(mabs)
    # another dtype: compared by value, in the reference's dtype
    assert compare_values(_t([0.5], torch.float32), _t([0.5]), exact) == (True, 0.0, 0.0, "")
    ok, _, _, why = compare_values(_t([0.5], torch.float32), _t([0.25]), exact)
    assert (ok, why) == (False, "values differ")
    dense = _t([0.0, 2.0, 0.0])
    assert compare_values(dense.to_sparse(), dense, exact)[0]
    assert not compare_values(dense.to_sparse(), dense + 1, exact)[0]
    tols: list[torch.dtype] = []
    compare_values(_t([1.0], torch.float32), _t([1.0]), lambda d: tols.append(d) or EXACT)
    assert tols == [F64]


def test_lists_numbers_and_other_values() -> None:
    ok, _, _, why = compare_values([1.0], [1.0, 2.0], exact)
    assert (ok, why) == (False, "length 1 != 2")
    ok, mabs, mrel, why = compare_values((_t([1.0]), _t([2.5])), (_t([1.0]), _t([2.0])), exact)
    assert (ok, mabs, why) == (False, 0.5, "values differ")
    ok, mabs, mrel, _ = compare_values([_t([1.0 + 1e-13]), _t([2.0])], [_t([1.0]), _t([2.0])],
                                       loose)  # fmt: skip
    assert ok and mabs == pytest.approx(1e-13, rel=1e-3) and mrel > 0
    assert compare_values([], [], exact) == (True, 0.0, 0.0, "")
    assert compare_values(3, 3.0, exact) == (True, 0.0, 0.0, "")
    assert compare_values(math.nan, math.nan, exact)[0]
    assert compare_values(2.5, 2.0, exact) == (False, 0.5, 0.5, "2.5 != 2.0")
    assert compare_values(math.nan, 1.0, exact)[0] is False
    ok, mabs, _, why = compare_values("a", "b", exact)
    assert (ok, why) == (False, "'a' != 'b'") and math.isnan(mabs)
    ok, mabs, _, why = compare_values(None, None, exact)
    assert (ok, why) == (True, "") and math.isnan(mabs)


# --- run_lockstep -------------------------------------------------------------------------


def test_identical_runs_agree() -> None:
    assert lockstep(torch.optim.SGD, problem(momentum=0.5)) is None
    assert lockstep(torch.optim.SGD, problem(momentum=0.5), loose) is None


class Nudged(Hooked):
    at = 1

    def after(self, k: int) -> None:
        if k == self.at:
            for p in params_of(self):
                p.add_(1e-3)


def test_param_divergence_carries_where_and_how_much() -> None:
    found = lockstep(Nudged, problem())
    assert found is not None
    assert (found.step, found.what, found.param, found.key) == (1, "param", 0, None)
    assert found.max_abs == pytest.approx(1e-3)
    assert found.detail == "values differ"
    assert isinstance(found.target_value, Tensor)
    assert not torch.equal(found.target_value, found.reference_value)
    assert str(found).startswith("step 2: param 0 param (max abs err 0.001")


class Healed(Hooked):
    """Off after step 2 only: step 3 puts the parameters back."""

    def after(self, k: int) -> None:
        for p in params_of(self):
            p.add_(1e-3 if k == 1 else -1e-3 if k == 2 else 0.0)


def test_check_every_skips_steps_but_not_the_last() -> None:
    prob = problem()
    assert lockstep(Healed, prob) is not None
    assert lockstep(Healed, prob, check_every=3) is None
    found = lockstep(Nudged, prob, check_every=5)
    assert found is not None and found.step == 2  # the last step is always checked
    found = lockstep(Nudged, prob, check_every=2)
    assert found is not None and found.step == 1


class DoubledState(Hooked):
    def after(self, k: int) -> None:
        for p in params_of(self):
            self.state[p]["momentum_buffer"].mul_(2.0)


def test_state_divergence_and_compare_state() -> None:
    prob = problem(STREAM[:1], momentum=0.5)
    found = lockstep(DoubledState, prob)
    assert found is not None
    assert (found.step, found.what, found.param, found.key) == (0, "state", 0, "momentum_buffer")
    assert found.max_abs > 0 and isinstance(found.target_value, Tensor)
    assert "step 1: param 0 state['momentum_buffer'] state" in str(found)
    assert lockstep(DoubledState, prob, compare_state=False) is None


class ExtraState(Hooked):
    def after(self, k: int) -> None:
        for p in params_of(self):
            self.state[p]["mine"] = 1.0


def test_state_keys_only_the_target_has_are_not_compared() -> None:
    assert lockstep(ExtraState, problem(momentum=0.5)) is None


class GradScaling(Hooked):
    def after(self, k: int) -> None:
        if k == 1:
            for p in params_of(self):
                p.grad.mul_(2.0)


class GradDropping(Hooked):
    def after(self, k: int) -> None:
        for p in params_of(self):
            p.grad = None


def test_grad_modified() -> None:
    for cls, step in ((GradScaling, 1), (GradDropping, 0)):
        found = lockstep(cls, problem())
        assert found is not None
        assert (found.step, found.what, found.param) == (step, "grad modified", 0)
        assert found.detail == "step() changed p.grad"
    none_grad = Problem(params=(_t([1.0]),), groups=((0,),), hyper=({"lr": 0.5},),
                        grads=((None,),))  # fmt: skip
    assert lockstep(GradDropping, none_grad) is None


def _rejecting(error: type[Exception]) -> type[Optimizer]:
    class Rejecting(torch.optim.SGD):
        def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
            if lr < 0:
                raise error(f"lr {lr}\nsecond line")
            super().__init__(params, lr=lr, **kwargs)

    return Rejecting


def test_constructor_exceptions() -> None:
    bad = problem(lr=-1.0)
    assert lockstep(_rejecting(ValueError), bad) is None  # same type: agree, stop
    found = lockstep(_rejecting(TypeError), bad)
    assert found is not None and (found.step, found.what) == (-1, "constructor")
    assert found.detail == (
        "target raised TypeError: lr -1.0; torch raised ValueError: Invalid learning rate: -1.0"
    )
    assert isinstance(found.target_value, TypeError)
    assert isinstance(found.reference_value, ValueError)
    assert str(found).startswith("constructor: constructor: target raised")

    class Accepting(torch.optim.SGD):
        def __init__(self, params: Any, lr: float = 1e-3, **kwargs: Any) -> None:
            super().__init__(params, lr=abs(lr), **kwargs)

    found = lockstep(Accepting, bad)
    assert found is not None and found.step == -1
    assert found.detail == "target accepted, torch raised ValueError: Invalid learning rate: -1.0"
    assert found.target_value is None
    found = lockstep(_rejecting(ValueError), problem(lr=0.5))
    assert found is None
    found = run_lockstep(factory(torch.optim.SGD), factory(Accepting), bad, exact)
    assert found is not None and found.detail.startswith("target raised ValueError: Invalid")
    assert found.detail.endswith("; torch did not")


class StepRaising(Hooked):
    error: type[Exception] = RuntimeError
    message = "boom"

    def after(self, k: int) -> None:
        if k == 1:
            raise self.error(self.message)


class StepRaisingValue(StepRaising):
    error = ValueError


class StepRaisingSilently(StepRaising):
    message = ""


def test_step_exceptions() -> None:
    found = lockstep(StepRaising, problem())
    assert found is not None and (found.step, found.what) == (1, "exception")
    assert found.detail == "target raised RuntimeError: boom; torch did not"
    found = lockstep(StepRaisingSilently, problem())
    assert found is not None and found.detail == "target raised RuntimeError: ; torch did not"
    both = run_lockstep(factory(StepRaising), factory(StepRaisingSilently), problem(), exact)
    assert both is None
    other = run_lockstep(factory(StepRaisingValue), factory(StepRaising), problem(), exact)
    assert other is not None and other.detail == (
        "target raised ValueError: boom; torch raised RuntimeError: boom"
    )
    found = run_lockstep(factory(torch.optim.SGD), factory(StepRaising), problem(), exact)
    assert found is not None and found.detail == "target accepted, torch raised RuntimeError: boom"


# --- closures, schedules, reloads ---------------------------------------------------------


def _quadratic(params: Any) -> Tensor:
    return ((params[0] - 1.0) ** 2).sum()


CLOSURE = Problem(params=(_t([0.5, -1.5]),), groups=((0,),), hyper=({"lr": 0.5, "max_iter": 3},),
                  objective=_quadratic, steps=2)  # fmt: skip


class ExtraCall(torch.optim.LBFGS):
    def step(self, closure: Any) -> Any:  # type: ignore[override]
        with torch.enable_grad():
            closure()
        return super().step(closure)


class OtherLoss(torch.optim.LBFGS):
    def step(self, closure: Any) -> Any:  # type: ignore[override]
        return super().step(closure) * 2


def test_closure_calls_and_losses() -> None:
    lbfgs = factory(torch.optim.LBFGS)
    assert run_lockstep(lbfgs, lbfgs, CLOSURE, exact) is None
    found = run_lockstep(factory(ExtraCall), lbfgs, CLOSURE, exact)
    assert found is not None and (found.step, found.what) == (0, "closure calls")
    assert found.target_value == found.reference_value + 1
    assert found.detail == (
        f"target evaluated the closure {found.target_value} times, torch {found.reference_value}"
    )
    found = run_lockstep(factory(OtherLoss), lbfgs, CLOSURE, exact)
    assert found is not None and (found.step, found.what) == (0, "loss")
    assert found.max_abs > 0


class IgnoresSchedule(Hooked):
    def after(self, k: int) -> None:
        for group in self.param_groups:
            group["lr"] = 0.5


def test_schedule_is_applied_to_both() -> None:
    prob = Problem(**{**problem().__dict__, "schedule": {1: ({"lr": 0.25},)}})
    assert lockstep(torch.optim.SGD, prob) is None
    found = lockstep(
        IgnoresSchedule, Problem(**{**prob.__dict__, "schedule": {2: ({"lr": 0.25},)}})
    )
    assert found is None  # the change applies before step 3 to both; its after() resets it late
    run = run_problem(factory(torch.optim.SGD), prob)
    assert run.optimizer is not None and run.optimizer.param_groups[0]["lr"] == 0.25
    expected = _t([1.0, -2.0, 3.0]) - 0.5 * _t(STREAM[0]) - 0.25 * (_t(STREAM[1]) + _t(STREAM[2]))
    assert torch.equal(run.params[0].detach(), expected)


class ForgetsState(torch.optim.SGD):
    def load_state_dict(self, state_dict: Any) -> None:
        pass


class CannotReload(torch.optim.SGD):
    def load_state_dict(self, state_dict: Any) -> None:
        raise KeyError("state")


def test_reload_from_state_dict() -> None:
    prob = Problem(**{**problem(momentum=0.5).__dict__, "reload_at": 1})
    assert lockstep(torch.optim.SGD, prob) is None
    found = lockstep(ForgetsState, prob)
    assert found is not None and found.step == 1 and found.what in ("param", "state")
    found = lockstep(CannotReload, prob)
    assert found is not None and (found.step, found.what) == (1, "exception")
    assert "KeyError" in found.detail
    with pytest.raises(KeyError):
        run_problem(factory(CannotReload), prob)
    run = run_problem(factory(torch.optim.SGD), prob)
    plain = run_problem(factory(torch.optim.SGD), problem(momentum=0.5))
    assert torch.equal(run.params[0], plain.params[0])


# --- problems, parameters, groups ---------------------------------------------------------


def test_problem_steps_and_description() -> None:
    prob = problem()
    assert prob.n_steps == 3 and prob.grads_at(4) is prob.grads[1]
    long = Problem(**{**prob.__dict__, "steps": 7, "reload_at": 2, "layouts": ("strided",)})
    assert long.n_steps == 7
    text = long.describe()
    assert text == (
        "params [(3,):float64] on cpu, 1 group(s), 7 step(s) (param 0 strided: not contiguous)"
        " (a stream of 3 repeated), reloaded from state_dict before step 3"
    )
    assert repr(long) == f"Problem({text})"
    assert prob.describe() == "params [(3,):float64] on cpu, 1 group(s), 3 step(s)"


def test_fresh_params_layouts() -> None:
    m = torch.arange(6, dtype=F64).reshape(2, 3)
    prob = Problem(params=(m, m), groups=((0, 1),), hyper=({"lr": 0.5},),
                   layouts=("", "strided"))  # fmt: skip
    plain, strided = fresh_params(prob)
    assert plain.is_contiguous() and plain.requires_grad and plain.is_leaf
    assert not strided.is_contiguous() and torch.equal(strided, m) and strided.stride() == (6, 2)
    assert plain.data_ptr() != m.data_ptr()
    with pytest.raises(ValueError, match="unknown parameter layout 'diagonal'"):
        fresh_params(Problem(params=(m,), groups=((0,),), hyper=({},), layouts=("diagonal",)))
    vec = torch.zeros(3, dtype=F64)
    (same,) = fresh_params(Problem(params=(vec,), groups=((0,),), hyper=({},),
                                   layouts=("transposed",)))  # fmt: skip
    assert same.is_contiguous()


def test_transposed_layout_is_not_contiguous() -> None:
    m = torch.arange(6, dtype=F64).reshape(2, 3)
    prob = Problem(params=(m,), groups=((0,),), hyper=({"lr": 0.5},), layouts=("transposed",))
    (transposed,) = fresh_params(prob)
    assert torch.equal(transposed, m)
    assert not transposed.is_contiguous()


def test_param_groups_named_and_hyperparameters_cloned() -> None:
    lr = torch.tensor(0.5)
    prob = Problem(params=(_t([1.0]), _t([2.0])), groups=((1,), (0,)),
                   hyper=({"lr": lr, "betas": (torch.tensor(0.9), 0.99)}, {"lr": 0.1}),
                   named=True)  # fmt: skip
    params = fresh_params(prob)
    groups = make_param_groups(params, prob)
    assert [g["params"][0][0] for g in groups] == ["g0.p1", "g1.p0"]
    assert groups[0]["params"][0][1] is params[1]
    assert groups[0]["lr"] is not lr and torch.equal(groups[0]["lr"], lr)
    assert groups[0]["betas"][0] is not prob.hyper[0]["betas"][0]
    assert groups[0]["betas"][1] == 0.99 and groups[1]["lr"] == 0.1
    unnamed = make_param_groups(params, Problem(**{**prob.__dict__, "named": False}))
    assert unnamed[1]["params"][0] is params[0]


def test_run_problem_runs_the_first_steps_and_raises() -> None:
    one = run_problem(factory(torch.optim.SGD), problem(), steps=1)
    assert torch.equal(one.params[0].detach(), _t([1.0, -2.0, 3.0]) - 0.5 * _t(STREAM[0]))
    assert len(one.losses) == 1
    with pytest.raises(ValueError, match="Invalid learning rate"):
        run_problem(factory(torch.optim.SGD), problem(lr=-1.0))
    with pytest.raises(RuntimeError, match="boom"):
        run_problem(factory(StepRaising), problem())


# --- details the rules above leave open ----------------------------------------------------


def test_compare_values_details() -> None:
    assert compare_values(_t([]), _t([]), exact) == (True, 0.0, 0.0, "")
    assert compare_values(_t([math.nan]), _t([math.nan]), exact) == (True, 0.0, 0.0, "")
    assert compare_values(math.nan, math.nan, exact) == (True, 0.0, 0.0, "")
    assert compare_values(2, "2", exact)[0] is False
    # exact mode's relative error is on the values, not on the value before the step
    assert compare_values(_t([1e-20]), _t([0.0]), exact, before=_t([1.0]))[2] == 1.0
    # another dtype: the value before the step still widens the scale
    f32 = torch.tensor([1e-20], dtype=torch.float32)
    assert compare_values(f32, _t([0.0]), loose, before=_t([1.0]))[0]
    # complex values that cancel: judged on the value before the step
    z = torch.tensor([1e-20j], dtype=torch.complex128)
    zero = torch.zeros(1, dtype=torch.complex128)
    assert not compare_values(z, zero, loose)[0]
    assert compare_values(z, zero, loose, before=torch.tensor([1 + 1j]))[0]
    # lists: the worst absolute and relative errors, separately
    ok, mabs, mrel, why = compare_values([_t([1e6 + 1e-7]), _t([2.0])], [_t([1e6]), _t([2.0])],
                                         loose)  # fmt: skip
    assert (ok, why) == (True, "") and mabs == pytest.approx(1e-7, rel=1e-2)
    assert mrel == pytest.approx(1e-13, rel=1e-2)
    # the tolerance is asked for the reference's dtype
    strict64 = lambda d: EXACT if d == F64 else LOOSE  # noqa: E731
    assert not compare_values(_t([1.0 + 4 * U]), _t([1.0]), strict64)[0]


class Cancels(Hooked):
    """1 - 0.5*2 = 0, kept as 1e-20: rounding-sized on the scale of the operands."""

    def after(self, k: int) -> None:
        for p in params_of(self):
            p.add_(1e-20)


def test_lockstep_scales_with_the_value_before_the_step() -> None:
    prob = Problem(params=(_t([1.0]),), groups=((0,),), hyper=({"lr": 0.5},),
                   grads=((_t([2.0]),),))  # fmt: skip
    assert lockstep(Cancels, prob, loose) is None
    found = lockstep(Cancels, prob, exact)
    assert found is not None and found.max_rel == 1.0


def test_loss_divergence_details() -> None:
    found = run_lockstep(factory(OtherLoss), factory(torch.optim.LBFGS), CLOSURE, exact)
    assert found is not None and found.detail == "values differ" and found.max_rel > 0


class CannotReloadType(torch.optim.SGD):
    def load_state_dict(self, state_dict: Any) -> None:
        raise TypeError("state")


def test_both_fail_to_reload_with_other_types() -> None:
    prob = Problem(**{**problem(momentum=0.5).__dict__, "reload_at": 1})
    found = run_lockstep(factory(CannotReload), factory(CannotReloadType), prob, exact)
    assert found is not None and found.detail == (
        "target raised KeyError: 'state'; torch raised TypeError: state"
    )
    assert run_lockstep(factory(CannotReload), factory(CannotReload), prob, exact) is None


def test_divergence_and_problem_text() -> None:
    assert str(Divergence(0, "param", "d")) == "step 1: param: d"
    assert str(Divergence(-1, "constructor", "d")) == "constructor: constructor: d"
    text = str(Divergence(2, "state", "d", param=1, key="k"))
    assert text == "step 3: param 1 state['k'] state: d"
    two = Problem(params=(_t([1.0, 2.0]), torch.zeros(2, 2, dtype=torch.float32)),
                  groups=((0, 1),), hyper=({},), layouts=("strided", "transposed"))  # fmt: skip
    assert two.describe() == (
        "params [(2,):float64, (2, 2):float32] on cpu, 1 group(s), 0 step(s) "
        "(param 0 strided, param 1 transposed: not contiguous)"
    )
    empty = Problem(params=(), groups=(), hyper=())
    assert empty.describe() == "params [] on cpu, 0 group(s), 0 step(s)"


def test_layout_and_group_lengths_must_match() -> None:
    m = torch.arange(6, dtype=F64).reshape(2, 3) / 10
    (t,) = fresh_params(Problem(params=(m,), groups=((0,),), hyper=({},), layouts=("transposed",)))
    assert torch.equal(t, m) and t.shape == (2, 3)
    (s,) = fresh_params(Problem(params=(m[0],), groups=((0,),), hyper=({},), layouts=("strided",)))
    assert torch.equal(s, m[0]) and not s.is_contiguous() and s.dtype == F64
    with pytest.raises(ValueError):
        fresh_params(Problem(params=(m, m), groups=((0, 1),), hyper=({},), layouts=("",)))
    with pytest.raises(ValueError):
        make_param_groups([m], Problem(params=(m,), groups=((0,), (0,)), hyper=({},)))
