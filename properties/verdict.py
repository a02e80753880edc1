r"""The verdict model: judge a target by its distance from the exact maths, beside torch's.

For one problem the target, every torch implementation (for-loop, foreach, fused) and — only
when a comparison needs it — an *oracle* (torch's for-loop on float64 copies with exact
hyperparameters, :func:`~optverify.properties.trajectory.oracle_problem`) are recorded. For
each compared value (parameters, then state entries both sides keep) and element,

.. math::

    e_T = |T - orc|, \qquad e_\tau = \max_{m \in \text{torch}} |R_m - orc|, \qquad
    \text{allowed} = F\,e_\tau + K\,u\,s\,(k + 1),

where :math:`u` is the unit roundoff of the value's dtype, :math:`s` the scale of the
computation (the largest magnitude the value took so far, initial parameter included: an
update that cancels carries errors of the size of its operands, not of its result),
:math:`k` the 0-based step and :math:`F, K` the dtype's budget
(:data:`~optverify.properties.tolerances.BUDGETS`, with their evidence). A value the target
reproduces bit for bit from some torch implementation needs no oracle.

The findings and their kinds are those of :mod:`optverify.properties.findings`; one value is
judged by :mod:`optverify.properties.elementwise`, within the budget of
:mod:`optverify.properties.budget`.

A torch implementation other than the for-loop that itself departs from the maths beyond its
budget, measured against the for-loop, (a torch defect, see ``optverify audit-torch``) or
that raises where the for-loop does not, is left out of the references for that problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor

from optverify.properties import tolerances
from optverify.properties.budget import (
    Runs,
    as_tensor,
    grow,
    operand_unit,
    real_view,
    scale_of,
    value_of,
)
from optverify.properties.elementwise import compare_value

# the verdict's vocabulary, re-exported: callers read a verdict and its findings from here
from optverify.properties.findings import (
    FAILING,
    KINDS,
    Finding,
    Verdict,
    exception_kind,
    nonfinite_hyperparameters,
)
from optverify.properties.harness import Problem, exception_detail
from optverify.properties.trajectory import Trajectory

__all__ = [
    "FAILING",
    "KINDS",
    "Finding",
    "Verdict",
    "judge",
    "nonfinite_hyperparameters",
    "ulps_needed",
]


def judge(
    problem: Problem,
    target: Trajectory,
    references: Mapping[str, Trajectory],
    oracle: Callable[[], Trajectory | None],
    *,
    strict: bool = False,
    perturbed: Callable[[], list[Trajectory]] | None = None,
) -> Verdict:
    """The verdict on ``target`` against torch's ``references`` (``"forloop"`` required).

    ``oracle()`` records the float64 oracle run; it is called at most once, and only when
    the target reproduces no torch implementation bit for bit. ``perturbed()`` records
    torch's for-loop nudged by an ulp after every step (``record(..., nudge=...)``, one run
    per nudged quantity), called at most once and only when a value falls outside the
    budget: :data:`~optverify.properties.tolerances.CONDITIONING` times their distance from
    the oracle bounds the budget from below (the problem's conditioning). Findings after the
    first failing one are not looked for.
    """
    verdict = Verdict()
    forloop = references["forloop"]
    usable = {"forloop": forloop}
    for mode, run in references.items():
        if (
            mode != "forloop"
            and run.error_step == forloop.error_step
            and (run.error is None or type(run.error) is type(forloop.error))
        ):
            usable[mode] = run
    runs = Runs(problem, target, usable, oracle, perturbed)
    # torch implementations that depart from the maths themselves are left out
    for mode in [m for m in usable if m != "forloop"]:
        others = {"forloop": forloop}
        sub = Runs(problem, usable[mode], others, runs.oracle, runs.perturbed)
        # only finite values far from the maths disqualify: where torch's implementations
        # disagree on overflow or on the kind of a non-finite value, a target may side with
        # either of them
        departs = _first_numeric(
            sub, problem, strict=True, upto=forloop.last_good_step, only=frozenset({"mismatch"})
        )
        if departs is not None:
            del usable[mode]
    found = _exception_finding(problem, -1, target, forloop)
    if found is not None or target.error_step == -1 or forloop.error_step == -1:
        return _settle(verdict, found, strict)
    stop = min(target.last_good_step, forloop.last_good_step)
    numeric = _first_numeric(runs, problem, strict=strict, upto=stop, notes=verdict.notes)
    if numeric is not None:
        return _settle(verdict, numeric, strict)
    if target.grad_modified is not None and target.grad_modified[0] <= stop:
        k, i = target.grad_modified
        found = Finding("mismatch", k, "grad modified", "step() changed p.grad", param=i)
        return _settle(verdict, found, strict)
    if stop < (1 << 30):
        return _settle(verdict, _exception_finding(problem, stop, target, forloop), strict)
    return verdict


def ulps_needed(
    problem: Problem,
    target: Trajectory,
    references: Mapping[str, Trajectory],
    oracle: Callable[[], Trajectory | None],
) -> float:
    """The smallest ``ulps`` term of the budget that would admit every finite value of
    ``target`` (``(e_t - factor · e_torch) / (u · scale · (k + 1))`` at its worst): the
    measurement behind :data:`~optverify.properties.tolerances.BUDGETS`."""
    runs = Runs(problem, target, dict(references), oracle)
    forloop = references["forloop"]
    worst = 0.0
    for k in sorted(target.snapshots):
        if k not in forloop.snapshots:
            continue
        for i in range(len(problem.params)):
            for key in [None, *forloop.snapshots[k].state[i]]:
                T = as_tensor(value_of(target.snapshots[k], i, key))
                R = as_tensor(value_of(forloop.snapshots[k], i, key))
                if T is None or R is None or T.shape != R.shape:
                    continue
                if not (T.is_floating_point() or T.is_complex()):
                    continue
                orc = as_tensor(value_of(runs.oracle().snapshots[k], i, key))
                orc = orc if orc is not None and orc.shape == T.shape else R
                t64, o64, r64 = real_view(T), real_view(orc), real_view(R)
                ok = t64.isfinite() & o64.isfinite() & r64.isfinite()
                if not bool(ok.any()):
                    continue
                dtype = T.dtype if key is not None else problem.params[i].dtype
                b, unit = tolerances.budget(dtype), operand_unit(problem, i, dtype)
                scale = grow(scale_of(runs, i, key, k, t64.shape), orc)
                need = ((t64 - o64).abs() - b.factor * (r64 - o64).abs()) / (
                    unit * scale * (k + 1)
                ).clamp_min(torch.finfo(torch.float64).tiny)
                worst = max(worst, float(need[ok].max()))
    return worst


def _settle(verdict: Verdict, found: Finding | None, strict: bool) -> Verdict:
    if found is None:
        return verdict
    if found.fails(strict):
        verdict.finding = found
    else:
        verdict.notes.append(found)
    return verdict


def _first_numeric(
    runs: Runs,
    problem: Problem,
    *,
    strict: bool,
    upto: int,
    notes: list[Finding] | None = None,
    only: frozenset[str] | None = None,
) -> Finding | None:
    """The first failing finding over the snapshots before step ``upto`` (of a kind in
    ``only``, when given)."""
    target = runs.target
    for k in sorted(target.snapshots):
        if k >= upto or any(k not in run.snapshots for run in runs.references.values()):
            continue
        found = _step_findings(runs, problem, k, strict=strict, notes=notes, only=only)
        if found is not None:
            return found
    return None


def _step_findings(
    runs: Runs,
    problem: Problem,
    k: int,
    *,
    strict: bool,
    notes: list[Finding] | None,
    only: frozenset[str] | None,
) -> Finding | None:
    """The failing finding at step ``k``: a range effect (overflow, non-finite kind) before a
    numeric mismatch it may have caused, else the first in parameter and key order."""
    target = runs.target
    failing: list[Finding] = []
    t_snap, r_snap = target.snapshots[k], runs.references["forloop"].snapshots[k]
    if problem.objective is not None and t_snap.closure_calls != r_snap.closure_calls:
        return Finding(
            "mismatch", k, "closure calls",
            f"target evaluated the closure {t_snap.closure_calls} times, torch "
            f"{r_snap.closure_calls}",
        )  # fmt: skip
    for i, p in enumerate(problem.params):
        found = compare_value(runs, k, i, None, "param", p.dtype)
        if found is not None and (only is None or found.kind in only):
            if found.fails(strict):
                failing.append(found)
            else:
                _note(notes, found)
        for key in r_snap.state[i]:
            if key not in t_snap.state[i]:
                continue
            ref = r_snap.state[i][key]
            dtype = ref.dtype if isinstance(ref, Tensor) else torch.float64
            found = compare_value(runs, k, i, key, "state", dtype)
            if found is not None and (only is None or found.kind in only):
                if found.fails(strict):
                    failing.append(found)
                else:
                    _note(notes, found)
    if not failing:
        return None
    ranged = [f for f in failing if f.kind in ("overflow", "non-finite kind")]
    return (ranged or failing)[0]


def _note(notes: list[Finding] | None, found: Finding) -> None:
    """Keep one note per kind: the one farthest from the maths."""
    if notes is None:
        return
    for j, old in enumerate(notes):
        if old.kind == found.kind:
            if found.target_ulps > old.target_ulps:
                notes[j] = found
            return
    notes.append(found)


def _exception_finding(problem: Problem, step: int, t: Trajectory, r: Trajectory) -> Finding | None:
    """Where the target and torch's for-loop part by raising (``None``: same type, or no
    exception at ``step`` on either side)."""
    t_err = t.error if t.error_step == step else None
    r_err = r.error if r.error_step == step else None
    if t_err is None and r_err is None:
        return None
    if t_err is not None and r_err is not None and type(t_err) is type(r_err):
        return None
    what = "constructor" if step < 0 else "exception"
    cause = None
    if t_err is not None and isinstance(t_err, TypeError) and "argument" in str(t_err):
        cause = "the target's constructor or step() takes other arguments than torch's"
    return Finding(
        exception_kind(problem), step, what, exception_detail(t_err, r_err), cause=cause,
        mode="forloop", target_value=t_err, reference_value=r_err,
    )  # fmt: skip
