"""The lock-step harness: run two optimisers on the same problem and find where they part.

No Hypothesis in here: a :class:`Problem` is plain data (initial parameters, param groups
with their hyperparameters, a gradient stream or an objective, hyperparameter changes
between steps), and :func:`run_lockstep` returns the first :class:`Divergence` or ``None``.
Everything else (the conformance property, the invariants, ``optverify check``, the
differential claims about the notes) builds on it.

Each optimiser gets its own clones of every tensor (torch 2.13's ``load_state_dict`` keeps
tensors of matching dtype and device by reference, so sharing would let one side mutate the
other's inputs). After every step the harness compares, for each parameter: the gradient
(which ``step`` must not modify), the parameter, and every state entry whose key both
optimisers hold.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

# compare_values and same_bits are re-exported: the invariants and the recorder import them
# from here, beside the runs they compare
from optverify.properties.comparison import TolFor, compare_values, same_bits

__all__ = [
    "Divergence",
    "Located",
    "OptimizerFactory",
    "Problem",
    "Run",
    "apply_schedule",
    "compare_values",
    "construct",
    "exception_detail",
    "fresh_params",
    "make_param_groups",
    "one_line",
    "prepare_step",
    "reload",
    "run_lockstep",
    "run_problem",
    "same_bits",
    "state_of",
    "step_once",
]

#: Builds an optimiser from torch-style param groups (``[{"params": [...], **hyper}, ...]``).
OptimizerFactory = Callable[[list[dict[str, Any]]], Optimizer]


@dataclass(frozen=True)
class Problem:
    """A deterministic optimisation run.

    ``params`` are the initial values; ``groups[j]`` lists the indices of the parameters in
    param group ``j`` and ``hyper[j]`` its hyperparameters; ``grads[k][i]`` is parameter
    ``i``'s gradient before step ``k`` (``None``: no gradient). ``schedule[k]`` holds
    per-group hyperparameter changes applied before step ``k`` (as an LR scheduler does).
    Closure problems (LBFGS) give ``objective`` instead of ``grads``; ``steps`` longer than
    the stream repeats it (long runs). ``reload_at = k``: before step ``k`` each optimiser is
    replaced by a fresh one that loads a deep copy of its ``state_dict()`` (a checkpoint).
    """

    params: tuple[Tensor, ...]
    groups: tuple[tuple[int, ...], ...]
    hyper: tuple[Mapping[str, Any], ...]
    grads: tuple[tuple[Tensor | None, ...], ...] = ()
    schedule: Mapping[int, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    objective: Callable[[Sequence[Tensor]], Tensor] | None = None
    steps: int | None = None
    named: bool = False
    reload_at: int | None = None
    #: per parameter: ``""`` contiguous, ``"transposed"`` (a transposed view of a matrix) or
    #: ``"strided"`` (every other element of a buffer twice as wide): same values, other
    #: strides, for implementations that assume contiguous memory
    layouts: tuple[str, ...] = ()

    @property
    def n_steps(self) -> int:
        return self.steps if self.steps is not None else len(self.grads)

    def grads_at(self, k: int) -> tuple[Tensor | None, ...]:
        """The gradients before step ``k`` (the stream repeats when ``steps`` is longer)."""
        return self.grads[k % len(self.grads)]

    def __repr__(self) -> str:
        # compact: Hypothesis reprs failing examples, and tensors of 1 000 elements are long
        return f"Problem({self.describe()})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis's pretty printer would list every field

    def describe(self) -> str:
        """One line: shapes, dtypes and devices of the parameters, and the run length."""
        shapes = ", ".join(
            f"{tuple(p.shape)}:{str(p.dtype).removeprefix('torch.')}" for p in self.params
        )
        device = self.params[0].device.type if self.params else "cpu"
        text = f"params [{shapes}] on {device}, {len(self.groups)} group(s), {self.n_steps} step(s)"
        odd = [f"param {i} {how}" for i, how in enumerate(self.layouts) if how]
        if odd:
            text += f" ({', '.join(odd)}: not contiguous)"
        if self.steps is not None and self.grads:
            text += f" (a stream of {len(self.grads)} repeated)"
        if self.reload_at is not None:
            text += f", reloaded from state_dict before step {self.reload_at + 1}"
        return text


@dataclass(frozen=True, kw_only=True)
class Located:
    """Where a target and its reference part, and by how much: the parameter and state key
    (``None``: not one), the largest absolute and relative error, and the two values.

    The fields shared by the harness's :class:`Divergence` and the verdict model's
    :class:`~optverify.properties.findings.Finding` (keyword-only: each puts its own
    positional fields first)."""

    param: int | None = None
    key: str | None = None
    max_abs: float = math.nan
    max_rel: float = math.nan
    target_value: Any = None
    reference_value: Any = None

    def _location(self, step: int) -> str:
        """``step k: param i state['key']`` (``constructor:`` for step ``-1``)."""
        where = "constructor:" if step < 0 else f"step {step + 1}:"
        if self.param is not None:
            where += f" param {self.param}"
        if self.key is not None:
            where += f" state[{self.key!r}]"
        return where


@dataclass(frozen=True)
class Divergence(Located):
    """Where the target first disagrees with the reference.

    ``step`` is 0-based (``-1``: the constructor); ``what`` is one of ``constructor``,
    ``exception``, ``param``, ``state``, ``grad modified``, ``loss``, ``closure calls``.
    """

    step: int
    what: str
    detail: str

    def __str__(self) -> str:
        err = ""
        if not math.isnan(self.max_abs):
            err = f" (max abs err {self.max_abs:.3g}, max rel err {self.max_rel:.3g})"
        return f"{self._location(self.step)} {self.what}{err}: {self.detail}"


@dataclass
class Run:
    """One optimiser's side of a lock-step run (kept for inspection by callers)."""

    optimizer: Optimizer | None
    params: list[Tensor]
    error: BaseException | None = None
    losses: list[Any] = field(default_factory=list)
    closure_calls: int = 0


def make_param_groups(params: Sequence[Tensor], problem: Problem) -> list[dict[str, Any]]:
    """torch-style param groups of ``params`` (named pairs when ``problem.named``)."""
    groups = []
    for j, (indices, hyper) in enumerate(zip(problem.groups, problem.hyper, strict=True)):
        members: list[Any] = [
            (f"g{j}.p{i}", params[i]) if problem.named else params[i] for i in indices
        ]
        groups.append({"params": members, **_clone_hyper(hyper)})
    return groups


def _clone_hyper(hyper: Mapping[str, Any]) -> dict[str, Any]:
    def clone(v: Any) -> Any:
        if isinstance(v, Tensor):
            return v.clone()
        if isinstance(v, tuple):
            return tuple(clone(x) for x in v)
        return v

    return {k: clone(v) for k, v in hyper.items()}


def fresh_params(problem: Problem) -> list[Tensor]:
    """Leaf copies of the initial parameters, laid out in memory as ``problem.layouts`` says."""
    layouts = problem.layouts or ("",) * len(problem.params)
    return [_laid_out(p.detach(), how).requires_grad_(True) for p, how in zip(
        problem.params, layouts, strict=True)]  # fmt: skip


def _laid_out(p: Tensor, how: str) -> Tensor:
    """A copy of ``p`` with the same values, contiguous or as the view ``how`` names."""
    if how == "transposed" and p.dim() >= 2:
        # a copy laid out row-major for the transpose (``contiguous()`` would return the
        # problem's own tensor when the transpose is already contiguous, e.g. 1 x n)
        return p.transpose(-1, -2).clone(memory_format=torch.contiguous_format).transpose(-1, -2)
    if how == "strided" and p.dim() >= 1:
        base = torch.zeros((*p.shape[:-1], 2 * p.shape[-1]), dtype=p.dtype, device=p.device)
        view = base[..., ::2]
        view.copy_(p)
        return view
    if how not in ("", "transposed", "strided"):
        raise ValueError(f"unknown parameter layout {how!r}")
    return p.clone()


def _short(v: Any) -> Any:
    if isinstance(v, Tensor):
        return v.detach().clone().cpu()
    return v


def construct(factory: OptimizerFactory, params: list[Tensor], problem: Problem) -> Run:
    try:
        return Run(factory(make_param_groups(params, problem)), params)
    except Exception as error:
        return Run(None, params, error)


def reload(factory: OptimizerFactory, run: Run, problem: Problem) -> Run:
    """A fresh optimiser over ``run``'s parameters, loaded from a deep copy of its state."""
    assert run.optimizer is not None
    saved = copy.deepcopy(run.optimizer.state_dict())
    fresh = construct(factory, run.params, problem)
    if fresh.error is None:
        assert fresh.optimizer is not None
        try:
            fresh.optimizer.load_state_dict(saved)
        except Exception as error:
            fresh.error = error
    fresh.closure_calls = run.closure_calls
    return fresh


def run_problem(factory: OptimizerFactory, problem: Problem, steps: int | None = None) -> Run:
    """Run one optimiser alone on ``problem`` (the first ``steps`` steps); errors propagate."""
    run = construct(factory, fresh_params(problem), problem)
    if run.error is not None:
        raise run.error
    assert run.optimizer is not None
    for k in range(problem.n_steps if steps is None else steps):
        run = prepare_step(factory, run, problem, k)
        if run.error is not None:
            raise run.error
        run.losses.append(step_once(run, problem, k))
    return run


def prepare_step(factory: OptimizerFactory, run: Run, problem: Problem, k: int) -> Run:
    """``run`` ready for step ``k``: reloaded from its checkpoint where ``problem`` reloads
    before ``k`` (a failed reload: the fresh run, its ``error`` set) and with the
    hyperparameter changes scheduled before ``k`` applied."""
    if k == problem.reload_at:
        run = reload(factory, run, problem)
        if run.error is not None:
            return run
    if k in problem.schedule:
        assert run.optimizer is not None
        apply_schedule(run.optimizer, problem.schedule[k])
    return run


def apply_schedule(opt: Optimizer, changes: tuple[Mapping[str, Any], ...]) -> None:
    for group, change in zip(opt.param_groups, changes, strict=False):
        group.update(_clone_hyper(change))


def _closure_for(run: Run, objective: Callable[[Sequence[Tensor]], Tensor]) -> Callable[[], Any]:
    def closure() -> Tensor:
        run.closure_calls += 1
        for p in run.params:
            p.grad = None
        loss = objective(run.params)
        loss.backward()
        return loss

    return closure


def step_once(run: Run, problem: Problem, k: int) -> Any:
    assert run.optimizer is not None
    if problem.objective is not None:
        return run.optimizer.step(_closure_for(run, problem.objective))
    for p, g in zip(run.params, problem.grads_at(k), strict=True):
        p.grad = None if g is None else g.clone()
    return run.optimizer.step()


def state_of(run: Run, i: int) -> Mapping[str, Any]:
    assert run.optimizer is not None
    return run.optimizer.state.get(run.params[i], {})


def run_lockstep(
    target: OptimizerFactory,
    reference: OptimizerFactory,
    problem: Problem,
    tol_for: TolFor,
    *,
    compare_state: bool = True,
    check_every: int = 1,
) -> Divergence | None:
    """Run ``target`` and ``reference`` step by step on ``problem``; the first divergence.

    Parameters and state are compared after every ``check_every``-th step and the last
    (long runs use a stride: the comparison costs more than a step of a small problem).

    A target that raises where the reference does not (or the other way round, or with
    another exception type) diverges; when both raise the same exception type the run
    agrees up to there and stops.
    """
    t = construct(target, fresh_params(problem), problem)
    r = construct(reference, fresh_params(problem), problem)
    if t.error is not None or r.error is not None:
        return _exception_divergence(-1, "constructor", t.error, r.error)
    # exact comparisons need no scale; faithful ones scale with the values before the step
    scaled = bool(problem.params) and tol_for(problem.params[0].dtype).rtol > 0
    for k in range(problem.n_steps):
        t, r = prepare_step(target, t, problem, k), prepare_step(reference, r, problem, k)
        if t.error is not None or r.error is not None:
            return _exception_divergence(k, "exception", t.error, r.error)
        checked = (k + 1) % check_every == 0 or k == problem.n_steps - 1
        before = _snapshot(r) if checked and scaled else None
        t_loss = r_loss = None
        try:
            t_loss = step_once(t, problem, k)
        except Exception as error:
            t.error = error
        try:
            r_loss = step_once(r, problem, k)
        except Exception as error:
            r.error = error
        if t.error is not None or r.error is not None:
            return _exception_divergence(k, "exception", t.error, r.error)
        if not checked:
            continue
        found = _compare_step(t, r, problem, k, t_loss, r_loss, tol_for, compare_state, before)
        if found is not None:
            return found
    return None


def _snapshot(run: Run) -> list[tuple[Tensor, dict[str, Any]]]:
    """Each parameter's value and tensor state before a step (for the tolerance's scale)."""
    assert run.optimizer is not None
    taken = []
    for p in run.params:
        state = run.optimizer.state.get(p, {})
        tensors = {k: v.detach().clone() for k, v in state.items() if isinstance(v, Tensor)}
        taken.append((p.detach().clone(), tensors))
    return taken


def _exception_divergence(
    k: int, what: str, t_err: BaseException | None, r_err: BaseException | None
) -> Divergence | None:
    if t_err is not None and r_err is not None and type(t_err) is type(r_err):
        return None
    detail = exception_detail(t_err, r_err, _typed_line)
    return Divergence(k, what, detail, target_value=t_err, reference_value=r_err)


def exception_detail(
    t_err: BaseException | None,
    r_err: BaseException | None,
    line: Callable[[BaseException | None], str] | None = None,
) -> str:
    """How the target's and torch's exceptions (at least one given) differ, each told in
    one ``line`` (default :func:`one_line`)."""
    line = line or one_line
    if t_err is None:
        return f"target accepted, torch raised {line(r_err)}"
    if r_err is None:
        return f"target raised {line(t_err)}; torch did not"
    return f"target raised {line(t_err)}; torch raised {line(r_err)}"


def one_line(error: BaseException | None) -> str:
    """``Type: first line of the message`` (``Type`` alone for an empty message)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _typed_line(error: BaseException | None) -> str:
    """``Type: first line of the message``, the colon kept for an empty message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _compare_step(
    t: Run,
    r: Run,
    problem: Problem,
    k: int,
    t_loss: Any,
    r_loss: Any,
    tol_for: TolFor,
    compare_state: bool,
    before: list[tuple[Tensor, dict[str, Any]]] | None = None,
) -> Divergence | None:
    if problem.objective is not None:
        ok, mabs, mrel, why = compare_values(t_loss, r_loss, tol_for)
        if not ok:
            return Divergence(k, "loss", why, max_abs=mabs, max_rel=mrel)
        if t.closure_calls != r.closure_calls:
            return Divergence(
                k,
                "closure calls",
                f"target evaluated the closure {t.closure_calls} times, torch {r.closure_calls}",
                target_value=t.closure_calls,
                reference_value=r.closure_calls,
            )
    for i in range(len(problem.params)):
        if problem.objective is None:
            given = problem.grads_at(k)[i]
            seen = t.params[i].grad
            if given is not None and (seen is None or not same_bits(seen, given)):
                return Divergence(k, "grad modified", "step() changed p.grad", param=i)
        prev_param, prev_state = before[i] if before is not None else (None, {})
        ok, mabs, mrel, why = compare_values(t.params[i], r.params[i], tol_for, prev_param)
        if not ok:
            return Divergence(
                k, "param", why, param=i, max_abs=mabs, max_rel=mrel,
                target_value=_short(t.params[i]), reference_value=_short(r.params[i]),
            )  # fmt: skip
        if not compare_state:
            continue
        t_state, r_state = state_of(t, i), state_of(r, i)
        for key in r_state:
            if key not in t_state:
                continue
            ok, mabs, mrel, why = compare_values(
                t_state[key], r_state[key], tol_for, prev_state.get(key)
            )
            if not ok:
                return Divergence(
                    k, "state", why, param=i, key=str(key), max_abs=mabs, max_rel=mrel,
                    target_value=_short(t_state[key]), reference_value=_short(r_state[key]),
                )  # fmt: skip
    return None
