"""Metamorphic properties that hold for ``torch.optim`` and must hold for any faithful copy.

Each is a plain function ``(cls, problem) -> None`` that raises :class:`InvariantViolation`
(an ``AssertionError``) with the first difference; tests run them under Hypothesis for
torch's class and for ours. Each states its domain where floating point restricts it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optverify.properties import tolerances
from optverify.properties.harness import Problem, Run, compare_values, run_problem
from optverify.properties.specs import SPECS
from optverify.properties.tolerances import Tol

__all__ = [
    "INVARIANTS",
    "InvariantViolation",
    "complex_is_view_as_real",
    "complex_view_as_real_domain",
    "coupled_weight_decay_is_l2_term",
    "deterministic",
    "maximize_is_minimize_of_negated_grad",
    "none_grad_leaves_param_and_state_untouched",
    "param_groups_are_separate_optimizers",
    "state_dict_round_trip",
    "tensor_lr_is_float_lr",
]

Invariant = Callable[[type[Optimizer], Problem], None]


class InvariantViolation(AssertionError):
    """A metamorphic relation failed; the message says where."""


def _exact(dtype: torch.dtype) -> Tol:
    return tolerances.EXACT


def _factory(cls: type[Optimizer], **fixed: Any) -> Callable[[list[dict[str, Any]]], Optimizer]:
    def make(groups: list[dict[str, Any]]) -> Optimizer:
        first = {k: v for k, v in groups[0].items() if k != "params"}
        return cls(groups, **{**first, **fixed})

    return make


def _assert_same_runs(a: Run, b: Run, what: str, tol_for: Callable[[torch.dtype], Tol]) -> None:
    for i, (pa, pb) in enumerate(zip(a.params, b.params, strict=True)):
        ok, mabs, _, why = compare_values(pa, pb, tol_for)
        if not ok:
            raise InvariantViolation(f"{what}: param {i} differs ({why}, max abs err {mabs:.3g})")
    assert a.optimizer is not None and b.optimizer is not None
    for i, (pa, pb) in enumerate(zip(a.params, b.params, strict=True)):
        sa, sb = a.optimizer.state.get(pa, {}), b.optimizer.state.get(pb, {})
        if set(sa) != set(sb):
            raise InvariantViolation(f"{what}: param {i} state keys {sorted(sa)} != {sorted(sb)}")
        for key in sb:
            ok, mabs, _, why = compare_values(sa[key], sb[key], tol_for)
            if not ok:
                raise InvariantViolation(f"{what}: param {i} state[{key!r}] differs ({why})")


def maximize_is_minimize_of_negated_grad(cls: type[Optimizer], problem: Problem) -> None:
    """``maximize=True`` on gradients g is ``maximize=False`` on −g, bit for bit."""
    flipped = replace(
        problem,
        grads=tuple(tuple(None if g is None else -g for g in row) for row in problem.grads),
        hyper=tuple({**h, "maximize": False} for h in problem.hyper),
    )
    maximizing = replace(problem, hyper=tuple({**h, "maximize": True} for h in problem.hyper))
    _assert_same_runs(
        run_problem(_factory(cls), maximizing),
        run_problem(_factory(cls), flipped),
        "maximize(g) vs minimize(-g)",
        _exact,
    )


def state_dict_round_trip(
    cls: type[Optimizer], problem: Problem, other: type[Optimizer] | None = None
) -> None:
    """Saving mid-run and loading into a fresh optimiser (``other``, default ``cls``) changes
    nothing: the resumed run equals the uninterrupted one, bit for bit."""
    k = problem.reload_at if problem.reload_at is not None else problem.n_steps // 2
    whole = run_problem(_factory(cls), replace(problem, reload_at=None))
    first = run_problem(_factory(cls), replace(problem, reload_at=None), steps=k)
    assert first.optimizer is not None
    saved = copy.deepcopy(first.optimizer.state_dict())
    resumed_opt = _factory(other or cls)(
        [
            {"params": [first.params[i] for i in idx], **h}
            for idx, h in zip(problem.groups, problem.hyper, strict=True)
        ]
    )
    resumed_opt.load_state_dict(saved)
    resumed = Run(resumed_opt, first.params)
    for step in range(k, problem.n_steps):
        if step in problem.schedule:
            for group, change in zip(
                resumed_opt.param_groups, problem.schedule[step], strict=False
            ):
                group.update(change)
        for p, g in zip(resumed.params, problem.grads_at(step), strict=True):
            p.grad = None if g is None else g.clone()
        resumed_opt.step()
    name = (other or cls).__name__
    _assert_same_runs(resumed, whole, f"state_dict round trip into {name} at step {k}", _exact)


def param_groups_are_separate_optimizers(cls: type[Optimizer], problem: Problem) -> None:
    """An optimiser over two param groups equals one optimiser per group (bit for bit)."""
    together = run_problem(_factory(cls), problem)
    for j, indices in enumerate(problem.groups):
        alone = replace(
            problem,
            params=tuple(problem.params[i] for i in indices),
            groups=(tuple(range(len(indices))),),
            hyper=(problem.hyper[j],),
            grads=tuple(tuple(row[i] for i in indices) for row in problem.grads),
            schedule={k: (c[j],) for k, c in problem.schedule.items() if len(c) > j},
        )
        separate = run_problem(_factory(cls), alone)
        for local, i in enumerate(indices):
            ok, mabs, _, why = compare_values(separate.params[local], together.params[i], _exact)
            if not ok:
                raise InvariantViolation(
                    f"group {j} alone vs together: param {i} differs ({why}, {mabs:.3g})"
                )


def none_grad_leaves_param_and_state_untouched(cls: type[Optimizer], problem: Problem) -> None:
    """A parameter whose ``grad`` is ``None`` keeps its value and its state at that step."""
    run = run_problem(_factory(cls), replace(problem, reload_at=None), steps=0)
    assert run.optimizer is not None
    for k in range(problem.n_steps):
        if k in problem.schedule:
            for group, change in zip(run.optimizer.param_groups, problem.schedule[k], strict=False):
                group.update(change)
        before = [
            (p.detach().clone(), copy.deepcopy(dict(run.optimizer.state.get(p, {}))))
            for p in run.params
        ]
        for p, g in zip(run.params, problem.grads_at(k), strict=True):
            p.grad = None if g is None else g.clone()
        run.optimizer.step()
        for i, g in enumerate(problem.grads_at(k)):
            if g is not None:
                continue
            value, state = before[i]
            ok = compare_values(run.params[i], value, _exact)[0]
            if not ok:
                raise InvariantViolation(f"step {k + 1}: param {i} had no grad but moved")
            now = dict(run.optimizer.state.get(run.params[i], {}))
            same_keys = set(now) == set(state)
            if not same_keys or not all(compare_values(now[x], state[x], _exact)[0] for x in now):
                raise InvariantViolation(
                    f"step {k + 1}: param {i} had no grad but its state changed"
                )


def tensor_lr_is_float_lr(cls: type[Optimizer], problem: Problem) -> None:
    """``lr`` as a 0-d float64 tensor gives the same run as the same ``lr`` as a float.

    Domain: float64 tensors (a float32 tensor lr is a different, rounded number, and torch
    then computes the step size in float32) and parameters of dimension >= 1 (a 0-d
    parameter times a 0-d float64 tensor is computed in float64 by type promotion).
    """

    def with_lr(as_tensor: bool) -> Problem:
        def fix(h: Any) -> dict[str, Any]:
            lr = float(h["lr"]) if "lr" in h else 1e-3
            return {**h, "lr": torch.tensor(lr, dtype=torch.float64) if as_tensor else lr}

        schedule = {k: tuple(fix(c) if "lr" in c else c for c in ch)
                    for k, ch in problem.schedule.items()}  # fmt: skip
        return replace(problem, hyper=tuple(fix(h) for h in problem.hyper), schedule=schedule)

    _assert_same_runs(
        run_problem(_factory(cls), with_lr(True)),
        run_problem(_factory(cls), with_lr(False)),
        "tensor lr vs float lr",
        _exact,
    )


def deterministic(cls: type[Optimizer], problem: Problem) -> None:
    """The same inputs give bitwise the same parameters and state."""
    _assert_same_runs(
        run_problem(_factory(cls), problem),
        run_problem(_factory(cls), problem),
        "two identical runs",
        _exact,
    )


def coupled_weight_decay_is_l2_term(cls: type[Optimizer], problem: Problem) -> None:
    r"""SGD with ``weight_decay`` λ equals SGD with λ = 0 on the loss plus
    :math:`\tfrac{\lambda}{2}\lVert\theta\rVert^2`, or *minus* that term with
    ``maximize=True``: torch flips the gradient before it adds :math:`\lambda\theta`, so a
    maximising SGD maximises :math:`f - \tfrac{\lambda}{2}\lVert\theta\rVert^2`. Autograd adds
    the term's gradient to the data gradient at the current parameters, in its own order,
    hence the faithful tolerance.

    Domain: SGD. Adaptive optimisers divide by a running magnitude, which turns the rounding
    of a nearly cancelling :math:`g + \lambda\theta` into a large relative difference of the
    step (Hypothesis found 2e-3 for Adam and RMSprop).
    """
    decayed = run_problem(_factory(cls), replace(problem, reload_at=None))
    plain = run_problem(_factory(cls), replace(problem, reload_at=None), steps=0)
    assert plain.optimizer is not None
    lambdas = [float(h.get("weight_decay", 0.0)) for h in problem.hyper]
    signs = [-1.0 if h.get("maximize", False) else 1.0 for h in problem.hyper]
    for group in plain.optimizer.param_groups:
        group["weight_decay"] = 0.0
    for k in range(problem.n_steps):
        for j, change in enumerate(problem.schedule.get(k, ())):
            plain.optimizer.param_groups[j].update(
                {key: v for key, v in change.items() if key != "weight_decay"}
            )
            if "weight_decay" in change:
                lambdas[j] = float(change["weight_decay"])
        for j, indices in enumerate(problem.groups):
            for i in indices:
                g: Tensor | None = problem.grads_at(k)[i]
                p = plain.params[i]
                p.grad = None
                if g is None:
                    continue
                with torch.enable_grad():
                    loss = (g * p).sum() + signs[j] * lambdas[j] / 2 * (p * p).sum()
                    loss.backward()
        plain.optimizer.step()
    _assert_same_runs_params(plain, decayed, "SGD(weight_decay) vs L2 term in the loss")


def _assert_same_runs_params(a: Run, b: Run, what: str) -> None:
    for i, (pa, pb) in enumerate(zip(a.params, b.params, strict=True)):
        ok, mabs, _, why = compare_values(pa, pb, tolerances.faithful)
        if not ok:
            raise InvariantViolation(f"{what}: param {i} differs ({why}, max abs err {mabs:.3g})")


def _as_real(t: Tensor | None) -> Tensor | None:
    if t is None:
        return None
    if t.is_sparse:
        return torch.sparse_coo_tensor(t._indices(), torch.view_as_real(t._values()), (*t.shape, 2))
    return torch.view_as_real(t).clone()


def _real_view(value: Any) -> Any:
    if isinstance(value, Tensor) and value.is_complex():
        return torch.view_as_real(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_real_view(v) for v in value)
    return value


# below this a power of two times a gradient may fall into the subnormal range and round
_SMALLEST_ALPHA = 2.0**-30


def _power_of_two(x: float) -> float:
    """The power of two nearest to ``x >= 0`` on a log scale (0 below 2**-30)."""
    if not x >= _SMALLEST_ALPHA:
        return 0.0
    return 2.0 ** round(math.log2(x))


def _alpha_in_domain(key: str, value: Any) -> Any:
    if isinstance(value, Tensor):
        return torch.tensor(_alpha_in_domain(key, float(value)), dtype=value.dtype)
    if key == "dampening":  # torch adds with alpha = 1 - dampening
        return 1.0 - _power_of_two(1.0 - float(value))
    return _power_of_two(float(value))


def complex_view_as_real_domain(name: str, problem: Problem) -> Problem:
    """``problem`` (complex, for ``torch.optim.<name>``) moved into the domain on which torch
    2.13 obeys :func:`complex_is_view_as_real` (its docstring gives the reasons), as the
    optimiser's :class:`~properties.specs.Spec` describes it.

    Non-finite gradient elements become zeros; each hyperparameter of
    ``Spec.complex_alphas`` (first groups and scheduled changes) is rounded to a power of two
    (``dampening`` so that ``1 - dampening`` is one); a tensor lr becomes the same float where
    ``Spec.complex_tensor_lr_promotes``; a ``None`` of ``Spec.constructor_derived`` (LBFGS's
    ``max_eval``) becomes the value torch's constructor derives from it; optimisers without
    ``Spec.reload_exact_in_float64`` are not reloaded mid-run.
    """
    spec = SPECS.get(name)
    alphas = spec.complex_alphas if spec is not None else ()
    promotes = spec is not None and spec.complex_tensor_lr_promotes
    derived = spec.constructor_derived if spec is not None else {}
    reloads = spec is None or spec.reload_exact_in_float64

    def fix(hyper: Any) -> dict[str, Any]:
        fixed = {k: _alpha_in_domain(k, v) if k in alphas else v for k, v in hyper.items()}
        if promotes and isinstance(fixed.get("lr"), Tensor):
            fixed["lr"] = float(fixed["lr"])
        for key, derive in derived.items():
            if key in fixed and fixed[key] is None:
                fixed[key] = derive(fixed)
        return fixed

    def finite(g: Tensor | None) -> Tensor | None:
        return None if g is None else torch.where(torch.isfinite(g), g, torch.zeros_like(g))

    return replace(
        problem,
        hyper=tuple(fix(h) for h in problem.hyper),
        grads=tuple(tuple(finite(g) for g in row) for row in problem.grads),
        schedule={k: tuple(fix(c) for c in ch) for k, ch in problem.schedule.items()},
        reload_at=problem.reload_at if reloads else None,
    )


def _finite_run(run: Run) -> bool:
    """Every parameter and every tensor state entry of ``run`` is finite."""
    assert run.optimizer is not None
    values: list[Tensor] = list(run.params)
    for p in run.params:
        values += [v for v in run.optimizer.state.get(p, {}).values() if isinstance(v, Tensor)]
    return all(bool(torch.isfinite(v.detach()).all()) for v in values)


def complex_is_view_as_real(cls: type[Optimizer], problem: Problem) -> bool:
    """A run on complex parameters equals, bit for bit, the run on their ``view_as_real``
    float pairs (gradients viewed alike; a closure problem's objective sees the pairs as
    complex again): parameters, and every state entry (complex state viewed as real); where
    one run raises, the other raises the same exception type.

    torch describes complex parameters as optimised as independent real pairs; its for-loop
    paths view them as real, but some arithmetic runs on the complex tensors first (before
    the view, or after viewing back), and complex arithmetic is not componentwise real
    arithmetic in two ways. Domain (where
    torch 2.13 obeys the relation; :func:`complex_view_as_real_domain` moves a problem in):

    * **finite runs.** A NaN or inf in one component spreads to the other in a complex
      product, ``(inf + x i)(c + 0 i) = inf + nan i``, wherever torch multiplies a complex
      tensor: coupled weight decay, Adam's and AdamW's decoupled decay
      ``param.mul_(1 - lr * weight_decay)``, all of SGD.
      Where the run on real pairs ends with a non-finite parameter or state entry the runs
      are not compared, and the function returns ``False`` (``True``: compared).
    * **powers of two as ``alpha``.** A complex ``add(x, alpha=a)`` rounds ``a * x`` before
      the addition; the real kernel rounds once (a fused multiply-add: measured on an AVX2
      CPU, 1-ulp differences in about one element in nine for ``a = 0.1``, none for
      ``a = 0.125``). So each hyperparameter of ``Spec.complex_alphas`` is a power of two
      (an exact product), and, as a precaution, gradients are kept where their squares are
      normal (the strategies' ``finite_squares``): such a product of a number near the
      subnormal range could round.
    * **a float lr** where ``Spec.complex_tensor_lr_promotes`` (a 0-d complex64 parameter
      times a 0-d float64 tensor is computed in complex128; its 1-d real view times it, in
      float32).
    * **no mid-run reload** without ``Spec.reload_exact_in_float64`` (float32 scalar state is
      cast to float64 beside a float64 parameter, not beside a complex128 one).

    NAdam, RAdam, ASGD, Rprop and LBFGS view as real before any arithmetic: only the reload
    rule applies to them (to NAdam and ASGD). Adagrad's *sparse* path squares complex values
    as complex numbers (``grad_values.pow(2)``, adagrad.py:409); sparse problems are outside
    the domain.
    """
    objective = problem.objective
    real_objective = None
    if objective is not None:

        def real_objective(params: Any) -> Tensor:
            return objective([torch.view_as_complex(p) for p in params])

    as_real = replace(
        problem,
        params=tuple(torch.view_as_real(p).clone() for p in problem.params),
        grads=tuple(tuple(_as_real(g) for g in row) for row in problem.grads),
        objective=real_objective,
    )
    outcomes: list[Run | Exception] = []
    for each in (problem, as_real):
        try:
            outcomes.append(run_problem(_factory(cls), each))
        except Exception as error:  # the relation covers refusals too
            outcomes.append(error)
    on_complex, on_real = outcomes
    if isinstance(on_complex, Exception) or isinstance(on_real, Exception):
        if type(on_complex) is not type(on_real):
            raise InvariantViolation(
                f"complex vs view_as_real: outcomes {type(on_complex).__name__} "
                f"and {type(on_real).__name__}"
            )
        return False
    if not _finite_run(on_real):
        return False
    for i, (pc, pr) in enumerate(zip(on_complex.params, on_real.params, strict=True)):
        ok, mabs, _, why = compare_values(torch.view_as_real(pc.detach()), pr, _exact)
        if not ok:
            raise InvariantViolation(
                f"complex vs view_as_real: param {i} differs ({why}, {mabs:.3g})"
            )
    assert on_complex.optimizer is not None and on_real.optimizer is not None
    for i, (pc, pr) in enumerate(zip(on_complex.params, on_real.params, strict=True)):
        sc, sr = on_complex.optimizer.state.get(pc, {}), on_real.optimizer.state.get(pr, {})
        if set(sc) != set(sr):
            raise InvariantViolation(
                f"complex vs view_as_real: param {i} state keys {sorted(sc)} != {sorted(sr)}"
            )
        for key in sc:
            ok, _, _, why = compare_values(_real_view(sc[key]), _real_view(sr[key]), _exact)
            if not ok:
                raise InvariantViolation(
                    f"complex vs view_as_real: param {i} state[{key!r}] differs ({why})"
                )
    return True


#: name -> invariant, for the tests' parametrisation
INVARIANTS: dict[str, Invariant] = {
    "maximize": maximize_is_minimize_of_negated_grad,
    "state_dict": state_dict_round_trip,
    "param_groups": param_groups_are_separate_optimizers,
    "none_grad": none_grad_leaves_param_and_state_untouched,
    "tensor_lr": tensor_lr_is_float_lr,
    "deterministic": deterministic,
}
