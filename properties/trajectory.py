"""Record what one optimiser does on a :class:`~optverify.properties.harness.Problem`.

The verdict model (:mod:`optverify.properties.verdict`) compares a target with several torch
implementations and with an oracle in float64; running each of them once and recording
snapshots (parameters and state after chosen steps) lets every comparison read the same
runs, and lets the oracle run only when a comparison needs it. The step loop is the
harness's (:func:`~optverify.properties.harness.step_once` and friends): one step loop for
the lock-step harness, the recorder and ``run_problem``.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor

from optverify.properties.harness import (
    OptimizerFactory,
    Problem,
    apply_schedule,
    construct,
    fresh_params,
    reload,
    same_bits,
    state_of,
    step_once,
)

__all__ = ["Snapshot", "Trajectory", "checked_steps", "needs_oracle", "oracle_problem", "record"]


@dataclass
class Snapshot:
    """Parameters and per-parameter state after one step (copies, on the CPU)."""

    params: list[Tensor]
    state: list[dict[str, Any]]
    loss: Any = None
    closure_calls: int = 0


@dataclass
class Trajectory:
    """One optimiser's run: snapshots after the checked steps, and how it ended.

    ``error_step`` is ``-1`` for the constructor, ``k`` for step ``k`` (a reload before step
    ``k`` counts as step ``k``) and ``None`` when the run finished. ``grad_modified`` is the
    first ``(step, param)`` whose ``p.grad`` the step changed.
    """

    snapshots: dict[int, Snapshot] = field(default_factory=dict)
    error: BaseException | None = None
    error_step: int | None = None
    grad_modified: tuple[int, int] | None = None

    @property
    def last_good_step(self) -> int:
        """Steps before this one ran without an exception."""
        return self.error_step if self.error_step is not None else 1 << 30


def checked_steps(problem: Problem) -> list[int]:
    """Every step of a short run; every tenth and the last of a long one (a difference that
    appears stays, and comparing costs more than a step of a small problem)."""
    n = problem.n_steps
    if n <= 50:
        return list(range(n))
    return sorted({k for k in range(n) if (k + 1) % 10 == 0} | {n - 1})


def _copy(value: Any) -> Any:
    if isinstance(value, Tensor):
        out = value.detach().to("cpu", copy=True)
        return out.coalesce() if out.is_sparse else out
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


def _nudge(value: Any) -> None:
    """Move a floating-point tensor's elements to the next representable value of its dtype,
    up or down by a fixed pseudo-random sign per element (in place; integers, sparse tensors
    and Python numbers are left alone). Random signs, as rounding errors have: a uniform
    nudge moves only along the scaling direction, to which scale-invariant updates (Adam's
    m/√v) are blind. The next value, not a relative ulp: a subnormal (a float16 second
    moment of 1e-7·g²) loses most of its digits when stored, and a relative nudge of it
    rounds back to itself."""
    if not isinstance(value, Tensor) or value.layout != torch.strided or value.numel() == 0:
        return
    if not (value.is_floating_point() or value.is_complex()):
        return
    real = torch.view_as_real(value) if value.is_complex() else value
    gen = torch.Generator().manual_seed(real.numel())
    signs = torch.randint(0, 2, real.shape, generator=gen, dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        toward = (signs * math.inf).to(real.device, real.dtype)
        old = real.detach()
        moved = torch.nextafter(old, toward)
        # non-finite values stay (inf's next value down is the largest finite one), and the
        # largest finite one is not moved into inf
        real.copy_(torch.where(old.isfinite() & moved.isfinite(), moved, old))


def _nudge_one(run: Any, which: str) -> None:
    """One ulp of backward error on what a step leaves behind: the parameters
    (``which == "param"``) or the state entry ``which`` of every parameter."""
    for i, p in enumerate(run.params):
        if which == "param":
            _nudge(p)
            continue
        try:
            entry = state_of(run, i)
        except Exception:
            continue
        if isinstance(entry, Mapping) and which in entry:
            _nudge(entry[which])


def record(
    factory: OptimizerFactory,
    problem: Problem,
    checked: Collection[int] | None = None,
    *,
    watch_grads: bool = False,
    nudge: str | None = None,
) -> Trajectory:
    """Run ``factory``'s optimiser on ``problem``, snapshotting after each ``checked`` step.

    Exceptions end the run and are kept (never raised); ``watch_grads`` also records the
    first step that modified a gradient it was given. ``nudge`` (``"param"`` or a state key)
    moves that quantity up by one ulp after every step (the parameters before the first
    step too): the run of an implementation whose
    rounding of it differs from this one's by an ulp a step, which measures how much the
    problem amplifies that rounding (the verdict model's conditioning reference).
    """
    wanted = set(checked_steps(problem) if checked is None else checked)
    out = Trajectory()
    run = construct(factory, fresh_params(problem), problem)
    if run.error is not None:
        out.error, out.error_step = run.error, -1
        return out
    if nudge == "param":
        _nudge_one(run, "param")  # the parameters' own rounding before the first step
    for k in range(problem.n_steps):
        try:
            if k == problem.reload_at:
                run = reload(factory, run, problem)
                if run.error is not None:
                    raise run.error
            assert run.optimizer is not None
            if k in problem.schedule:
                apply_schedule(run.optimizer, problem.schedule[k])
            loss = step_once(run, problem, k)
            if nudge is not None:
                _nudge_one(run, nudge)
        except Exception as error:
            out.error, out.error_step = error, k
            return out
        if watch_grads and out.grad_modified is None and problem.objective is None:
            for i, given in enumerate(problem.grads_at(k)):
                seen = run.params[i].grad
                if given is not None and (seen is None or not same_bits(seen, given)):
                    out.grad_modified = (k, i)
                    break
        if k in wanted:
            states = []
            for i in range(len(run.params)):
                try:
                    entry = state_of(run, i)
                except Exception:
                    entry = {}
                if not isinstance(entry, Mapping):
                    entry = {}
                states.append({str(key): _copy(v) for key, v in entry.items()})
            out.snapshots[k] = Snapshot(
                [_copy(p) for p in run.params], states, _copy(loss), run.closure_calls
            )
    return out


def _exact(value: Any) -> Any:
    """A hyperparameter as an exact Python number (a 0-d tensor's value, exactly)."""
    if isinstance(value, Tensor) and value.numel() == 1 and not value.is_complex():
        return float(value.item())
    if isinstance(value, tuple):
        return tuple(_exact(v) for v in value)
    return value


def _wide(t: Tensor | None) -> Tensor | None:
    if t is None:
        return None
    return t.to(torch.complex128 if t.is_complex() else torch.float64)


def needs_oracle(problem: Problem) -> bool:
    """Whether the float64 oracle differs from torch's for-loop run of ``problem`` itself:
    parameters below float64, or a hyperparameter given as a tensor (torch computes with the
    tensor's dtype; the oracle with its exact value)."""
    if any(p.dtype not in (torch.float64, torch.complex128) for p in problem.params):
        return True
    hypers = list(problem.hyper) + [h for row in problem.schedule.values() for h in row]
    return any(
        isinstance(v, Tensor) or (isinstance(v, tuple) and any(isinstance(x, Tensor) for x in v))
        for h in hypers
        for v in h.values()
    )


def oracle_problem(problem: Problem) -> Problem:
    """``problem`` on float64 (complex128) copies, hyperparameters as exact Python numbers."""
    return replace(
        problem,
        params=tuple(_wide(p) for p in problem.params),  # type: ignore[misc]
        grads=tuple(tuple(_wide(g) for g in row) for row in problem.grads),
        hyper=tuple({k: _exact(v) for k, v in h.items()} for h in problem.hyper),
        schedule={
            k: tuple({key: _exact(v) for key, v in h.items()} for h in row)
            for k, row in problem.schedule.items()
        },
    )
