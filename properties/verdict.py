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

Findings (:data:`FAILING` fail a check; the others are reported):

* ``mismatch`` — finite where torch is finite, farther from the maths than the budget;
  non-finite values in other places than torch's (moved, not made); finite where the exact
  maths and torch are not (a non-finite input lost); ``p.grad`` modified by ``step()``; or
  another number of closure evaluations;
* ``overflow`` — non-finite where every torch implementation is finite, or finite (and not
  within budget of the maths) where every one is non-finite but the maths is finite;
* ``non-finite kind`` — NaN where torch has ±inf, or the other sign of inf, in a parameter
  (in a state entry alone it is reported, and fails only when ``strict``);
* ``validation`` — raises where torch does not, or the reverse, or another exception type;
* ``non-finite hyperparameter`` — any of the above on a problem with a NaN/inf
  hyperparameter torch failed to reject (fails only when ``strict``);
* ``state layout`` — a state entry of another shape or type than torch's (compared where
  possible, else left out);
* ``precision`` — not bit for bit with any torch implementation but within budget.

A torch implementation other than the for-loop that itself departs from the maths beyond its
budget, measured against the for-loop, (a torch defect, see ``optverify audit-torch``) or
that raises where the for-loop does not, is left out of the references for that problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from optverify.properties import tolerances
from optverify.properties.harness import Problem
from optverify.properties.trajectory import Snapshot, Trajectory

__all__ = ["FAILING", "KINDS", "Finding", "Verdict", "judge", "nonfinite_hyperparameters"]

KINDS = (
    "mismatch",
    "overflow",
    "non-finite kind",
    "validation",
    "non-finite hyperparameter",
    "state layout",
    "precision",
)
FAILING = frozenset({"mismatch", "overflow", "non-finite kind", "validation"})


@dataclass(frozen=True)
class Finding:
    """One difference between a target and torch, classified.

    ``step`` is 0-based (``-1``: the constructor); ``what`` is ``param``, ``state``,
    ``constructor``, ``exception``, ``grad modified``, ``loss`` or ``closure calls``. Errors
    are in units of roundoff of the value's dtype times the scale of the computation:
    ``target_ulps`` the target's worst, ``torch_ulps`` torch's worst at that element and
    ``budget_ulps`` what was allowed there. ``max_abs``/``max_rel`` compare the target with
    torch's for-loop (relative to the scale).
    """

    kind: str
    step: int
    what: str
    detail: str
    param: int | None = None
    key: str | None = None
    target_ulps: float = math.nan
    torch_ulps: float = math.nan
    budget_ulps: float = math.nan
    max_abs: float = math.nan
    max_rel: float = math.nan
    cause: str | None = None
    mode: str | None = None
    target_value: Any = None
    reference_value: Any = None
    oracle_value: Any = None
    #: reported, not failing (unless strict): a non-finite kind difference in state only
    reported_only: bool = False

    def fails(self, strict: bool = False) -> bool:
        if self.reported_only and not strict:
            return False
        return self.kind in FAILING or (strict and self.kind == "non-finite hyperparameter")

    def __str__(self) -> str:
        where = "constructor" if self.step < 0 else f"step {self.step + 1}"
        loc = ""
        if self.param is not None:
            loc += f" param {self.param}"
        if self.key is not None:
            loc += f" state[{self.key!r}]"
        text = f"{self.kind}: {where}:{loc} {self.what}: {self.detail}"
        if not math.isnan(self.target_ulps):
            text += (
                f" (error against the exact maths: target {_ulps(self.target_ulps)}, torch "
                f"{_ulps(self.torch_ulps)}, allowed {_ulps(self.budget_ulps)})"
            )
        if self.cause:
            text += f"; likely cause: {self.cause}"
        return text


def _ulps(x: float) -> str:
    if math.isinf(x):
        return "inf"
    return f"{x:.3g} ulp" if x < 1e6 else f"{x:.2e} ulp"


@dataclass
class Verdict:
    """The first failing finding (``None``: conforms) and the reported ones."""

    finding: Finding | None = None
    notes: list[Finding] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        return self.finding is None


def nonfinite_hyperparameters(problem: Problem) -> list[str]:
    """Names of hyperparameters (in any group or scheduled change) that are NaN or ±inf."""
    found: list[str] = []
    rows = list(problem.hyper) + [h for row in problem.schedule.values() for h in row]
    for hyper in rows:
        for key, value in hyper.items():
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                number: float | None = None
                if isinstance(v, float):
                    number = v
                elif isinstance(v, Tensor) and v.numel() == 1 and not v.is_complex():
                    number = float(v.item())
                if number is not None and not math.isfinite(number) and key not in found:
                    found.append(key)
    return found


def _exception_kind(problem: Problem) -> str:
    return "non-finite hyperparameter" if nonfinite_hyperparameters(problem) else "validation"


def _one_line(error: BaseException | None) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _exception_finding(problem: Problem, step: int, t: Trajectory, r: Trajectory) -> Finding | None:
    """Where the target and torch's for-loop part by raising (``None``: same type, or no
    exception at ``step`` on either side)."""
    t_err = t.error if t.error_step == step else None
    r_err = r.error if r.error_step == step else None
    if t_err is None and r_err is None:
        return None
    if t_err is not None and r_err is not None and type(t_err) is type(r_err):
        return None
    if t_err is None:
        detail = f"target accepted, torch raised {_one_line(r_err)}"
    elif r_err is None:
        detail = f"target raised {_one_line(t_err)}; torch did not"
    else:
        detail = f"target raised {_one_line(t_err)}; torch raised {_one_line(r_err)}"
    what = "constructor" if step < 0 else "exception"
    cause = None
    if t_err is not None and isinstance(t_err, TypeError) and "argument" in str(t_err):
        cause = "the target's constructor or step() takes other arguments than torch's"
    return Finding(
        _exception_kind(problem), step, what, detail, cause=cause, mode="forloop",
        target_value=t_err, reference_value=r_err,
    )  # fmt: skip


def _real_view(t: Tensor) -> Tensor:
    if t.is_sparse:
        t = t.to_dense()
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.detach().to("cpu", torch.float64)


def _unit(dtype: torch.dtype) -> float:
    real = tolerances.real_dtype(dtype)
    return float(torch.finfo(real).eps) / 2 if real.is_floating_point else 0.0


def _operand_unit(problem: Problem, param: int, dtype: torch.dtype) -> float:
    """The roundoff unit of the narrowest operand of ``param``'s update: its own dtype's, or
    that of a hyperparameter its group holds as a narrower tensor (a float32 ``lr`` on
    float64 parameters rounds every product it enters at float32's unit)."""
    unit = _unit(dtype)
    group = next((g for g, members in enumerate(problem.groups) if param in members), None)
    if group is None:
        return unit
    rows = [problem.hyper[group]] + [
        row[group] for row in problem.schedule.values() if group < len(row)
    ]
    for hyper in rows:
        for value in hyper.values():
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, Tensor) and (v.is_floating_point() or v.is_complex()):
                    unit = max(unit, _unit(v.dtype))
    return unit


def _as_tensor(v: Any) -> Tensor | None:
    if isinstance(v, Tensor):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return torch.tensor(float(v), dtype=torch.float64)


def _bits_equal(a: Any, b: Any) -> bool:
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.shape != b.shape or a.dtype != b.dtype or a.is_sparse != b.is_sparse:
            return False
        x, y = _real_view(a), _real_view(b)
        return bool(((x == y) | (x.isnan() & y.isnan())).all())
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


@dataclass
class _Context:
    problem: Problem
    target: Trajectory
    references: dict[str, Trajectory]
    oracle_thunk: Callable[[], Trajectory | None]
    perturbed_thunk: Callable[[], list[Trajectory]] | None = None
    _oracle: Trajectory | None = None
    _oracle_done: bool = False
    _perturbed: list[Trajectory] | None = None

    def perturbed(self) -> list[Trajectory]:
        """torch's for-loop runs nudged by an ulp after every step (recorded when first asked
        for, and only when a value is outside the budget without them)."""
        if self._perturbed is None:
            found = self.perturbed_thunk() if self.perturbed_thunk is not None else []
            self._perturbed = [run for run in found if run.error is None]
        return self._perturbed

    def oracle(self) -> Trajectory:
        if not self._oracle_done:
            self._oracle_done = True
            found = self.oracle_thunk()
            self._oracle = found if found is not None and found.error is None else None
        return self._oracle if self._oracle is not None else self.references["forloop"]


def _value(snapshot: Snapshot, param: int, key: str | None) -> Any:
    if key is None:
        return snapshot.params[param]
    return snapshot.state[param].get(key)


def _scale(ctx: _Context, param: int, key: str | None, upto: int, shape: torch.Size) -> Tensor:
    """Elementwise largest magnitude of the value over torch's for-loop run up to ``upto``,
    and of the parameter (initial value included) that feeds it: the scale of the operands
    that produced it (a state entry such as ASGD's average inherits the rounding of the
    parameter update it averages)."""
    scale = torch.zeros(shape, dtype=torch.float64)
    scale = _grow(scale, ctx.problem.params[param])
    for k, snap in ctx.references["forloop"].snapshots.items():
        if k <= upto:
            scale = _grow(scale, _value(snap, param, key))
            if key is not None:
                scale = _grow(scale, snap.params[param])
    return scale


def _magnitude(t: Tensor) -> Tensor:
    """|t| on ``t``'s real view: a complex number's modulus for both of its parts (a small
    part of a large number carries the rounding of the large one)."""
    if t.is_sparse:
        t = t.to_dense()
    if t.is_complex():
        mod = t.detach().to("cpu", torch.complex128).abs().unsqueeze(-1)
        return mod.expand(*t.shape, 2)
    return t.detach().to("cpu", torch.float64).abs()


def _grow(scale: Tensor, value: Any) -> Tensor:
    t = _as_tensor(value)
    if t is None:
        return scale
    v = _magnitude(t)
    if v.shape != scale.shape:
        return scale
    return torch.maximum(scale, torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0))


def _perturbed_error(
    ctx: _Context, k: int, param: int, key: str | None, shape: torch.Size, o_safe: Tensor
) -> Tensor | None:
    """The largest distance from the maths of the nudged runs (elementwise), if any."""
    worst: Tensor | None = None
    for run in ctx.perturbed():
        if k not in run.snapshots:
            continue
        value = _as_tensor(_value(run.snapshots[k], param, key))
        if value is None or value.shape != shape:
            continue
        e = torch.nan_to_num((_real_view(value) - o_safe).abs(), nan=0.0, posinf=0.0)
        worst = e if worst is None else torch.maximum(worst, e)
    return worst


def _kinds(x: Tensor, complex_: bool = False) -> Tensor:
    """0 finite, 1 NaN, 2 +inf, 3 -inf. For a complex value (the last dimension of its real
    view holds its parts) 1 marks a non-finite number in both parts: complex arithmetic
    spreads NaN and inf between the parts in implementation-defined ways (a multiplication by
    1 + 0j turns inf + 0j into inf + NaNj), so only finiteness is compared, not the kind."""
    if complex_:
        bad = (~x.isfinite()).any(-1, keepdim=True).expand(x.shape)
        return bad.to(torch.int8)
    out = torch.zeros(x.shape, dtype=torch.int8)
    out[x.isnan()] = 1
    out[x == math.inf] = 2
    out[x == -math.inf] = 3
    return out


def _compare(
    ctx: _Context, k: int, param: int, key: str | None, what: str, dtype: torch.dtype
) -> Finding | None:
    """Judge one value at step ``k``: a failing finding, a precision note, or ``None``."""
    t_raw = _value(ctx.target.snapshots[k], param, key)
    refs = {m: _value(run.snapshots[k], param, key) for m, run in ctx.references.items()}
    if any(_bits_equal(t_raw, r) for r in refs.values()):
        return None
    T = _as_tensor(t_raw)
    R = {m: _as_tensor(v) for m, v in refs.items()}
    forloop = R["forloop"]
    if T is None or forloop is None:
        kind = "mismatch" if key is None else "state layout"
        return Finding(kind, k, what, f"{t_raw!r} where torch has {refs['forloop']!r}",
                       param=param, key=key, mode="forloop")  # fmt: skip
    if T.shape != forloop.shape:
        kind = "mismatch" if key is None else "state layout"
        detail = f"shape {tuple(T.shape)} where torch has {tuple(forloop.shape)}"
        return Finding(kind, k, what, detail, param=param, key=key, mode="forloop")
    oracle_raw = _value(ctx.oracle().snapshots[k], param, key)
    orc = _as_tensor(oracle_raw)
    if orc is None or orc.shape != T.shape:
        orc = forloop
    t64, o64 = _real_view(T), _real_view(orc)
    r64 = {m: _real_view(v) for m, v in R.items() if v is not None and v.shape == T.shape}
    budget = tolerances.budget(dtype)
    scale = _scale(ctx, param, key, k, t64.shape)
    scale = _grow(scale, orc)
    # non-finite elements: compare kinds with torch's
    cplx = T.is_complex()
    t_kind = _kinds(t64, cplx)
    torch_kinds = torch.stack([_kinds(v, cplx) for v in r64.values()])
    torch_finite = (torch_kinds == 0).all(0)
    torch_nonfinite = (torch_kinds != 0).all(0)
    o_finite = o64.isfinite()
    # errors where the comparison is numeric
    o_safe = torch.where(o_finite, o64, torch.nan_to_num(r64["forloop"], nan=0.0))
    e_t = (t64 - o_safe).abs()
    e_torch = torch.stack([(v - o_safe).abs() for v in r64.values()])
    e_torch = torch.nan_to_num(e_torch, nan=0.0, posinf=0.0).amax(0)
    unit = _unit(dtype)
    narrow = _operand_unit(ctx.problem, param, dtype)
    if narrow > unit and bool((e_torch > budget.ulps * unit * scale * (k + 1)).any()):
        unit = narrow  # torch itself rounds at a narrower hyperparameter's precision here
    allowed = budget.factor * e_torch + budget.ulps * unit * scale * (k + 1)
    within = e_t <= allowed
    if not bool(within.all()):
        # conditioning: where the problem amplifies rounding (cancellation, a division by a
        # small difference) beyond the budget, torch's run nudged by an ulp a step shows by
        # how much, and a correct implementation's other roundings may move it that far too
        e_cond = _perturbed_error(ctx, k, param, key, T.shape, o_safe)
        if e_cond is not None:
            # conditioning belongs to the step, not to one element: the nudge is one draw of
            # rounding, the target's own rounding another, so each element gets the largest
            # amplification (relative to its scale) the nudge shows anywhere in the value, up
            # to ILL_POSED (measured: Adam on complex128 with λ = 0.87, β₂ = 0, the nudged run
            # lands up to 1500 units from torch where the target lands 589, but at one
            # element 83 times farther than the nudge there)
            relative = torch.nan_to_num(e_cond / scale, nan=0.0, posinf=0.0)
            worst = relative.amax() if relative.numel() else relative.new_zeros(())
            e_step = torch.maximum(e_cond, worst * scale)
            amplified = e_step > allowed
            allowed = torch.where(amplified, tolerances.CONDITIONING * e_step, allowed)
            # an ill-posed value (one ulp a step moves an element of it by a visible fraction
            # of its scale: a chaotic long run) has no digits left to compare: not at that
            # element, nor at the others, which keep digits only by luck of the draw
            if float(worst) > tolerances.ILL_POSED:
                within = torch.ones_like(within)
            else:
                within = e_t <= allowed
    # 1. target non-finite where torch is finite everywhere: overflow (or kind)
    # where torch itself keeps no digit of the maths (its error beyond ILL_POSED of the scale:
    # the dtype cannot carry the computation, e.g. float16 steps of 6e4 where the maths moves
    # by 0.2), whether the target overflows there says nothing about the target
    hopeless = o_finite & (e_torch > tolerances.ILL_POSED * scale)
    bad = (t_kind != 0) & torch_finite & ~hopeless
    if bool(bad.any()):
        # the same non-finite values as torch's in other places (torch finite where the
        # target is not and the reverse) were moved, not made by a range effect: a layout
        # or indexing bug
        moved = torch_nonfinite & (t_kind == 0)
        f_kind = _kinds(r64["forloop"], cplx)
        same_values = torch.equal(t_kind[t_kind != 0].sort().values,
                                  f_kind[f_kind != 0].sort().values)  # fmt: skip
        if bool(moved.any()) and same_values:
            return _finding("mismatch", ctx, k, param, key, what, bad | moved, T, forloop, orc,
                            e_t, e_torch, allowed, unit, scale,
                            "non-finite values in other places than torch's")  # fmt: skip
        return _finding("overflow", ctx, k, param, key, what, bad, T, forloop, orc, e_t, e_torch,
                        allowed, unit, scale, "non-finite where torch is finite")  # fmt: skip
    # 2. torch non-finite everywhere: the target must be non-finite of a kind torch has, or
    #    finite and within budget of the maths
    kind_ok = (torch_kinds == t_kind.unsqueeze(0)).any(0)
    # the kind is judged where torch's for-loop has the kind of the maths rounded to the
    # dtype (beyond its range: inf of the maths' sign); where it has another (float16 +inf
    # where the maths is -2.5e5) neither is right and torch is no authority on the kind
    rounded = _kinds(_real_view(orc.to(T.dtype)) if orc.dtype != T.dtype else o64, cplx)
    torch_right = _kinds(r64["forloop"], cplx) == rounded
    wrong_kind = torch_nonfinite & (t_kind != 0) & ~kind_ok & torch_right
    if bool(wrong_kind.any()):
        return _finding("non-finite kind", ctx, k, param, key, what, wrong_kind, T, forloop, orc,
                        e_t, e_torch, allowed, unit, scale,
                        "a non-finite value of another kind than torch's")  # fmt: skip
    finite_where_not = torch_nonfinite & (t_kind == 0) & ~(o_finite & within)
    lost = finite_where_not & ~o_finite
    if bool(lost.any()):
        # the exact maths is non-finite too (an inf or NaN input): not a range effect of
        # torch's dtype that the target avoided, but a value the target failed to carry
        return _finding("mismatch", ctx, k, param, key, what, lost, T, forloop, orc, e_t,
                        e_torch, allowed, unit, scale,
                        "finite where the exact maths and torch are not")  # fmt: skip
    if bool(finite_where_not.any()):
        return _finding("overflow", ctx, k, param, key, what, finite_where_not, T, forloop, orc,
                        e_t, e_torch, allowed, unit, scale,
                        "finite where torch is not")  # fmt: skip
    # 3. torch finite everywhere (or torch's implementations disagree on finiteness: a
    #    finite target must then be within budget, a non-finite one of a kind torch has)
    mixed = ~torch_finite & ~torch_nonfinite
    numeric = (torch_finite | (mixed & (t_kind == 0))) & (t_kind == 0)
    mixed_bad = mixed & (t_kind != 0) & ~kind_ok
    far = numeric & ~within
    if bool(far.any()):
        return _finding("mismatch", ctx, k, param, key, what, far, T, forloop, orc, e_t,
                        e_torch, allowed, unit, scale,
                        "farther from the exact maths than torch")  # fmt: skip
    if bool(mixed_bad.any()):
        return _finding("non-finite kind", ctx, k, param, key, what, mixed_bad, T, forloop, orc,
                        e_t, e_torch, allowed, unit, scale,
                        "a non-finite value of another kind than torch's")  # fmt: skip
    return _finding("precision", ctx, k, param, key, what, numeric, T, forloop, orc, e_t,
                    e_torch, allowed, unit, scale, "within budget, not bit for bit")  # fmt: skip


def _finding(
    kind: str,
    ctx: _Context,
    k: int,
    param: int,
    key: str | None,
    what: str,
    where: Tensor,
    T: Tensor,
    forloop: Tensor,
    orc: Tensor,
    e_t: Tensor,
    e_torch: Tensor,
    allowed: Tensor,
    unit: float,
    scale: Tensor,
    detail: str,
) -> Finding:
    floor = torch.finfo(torch.float64).tiny
    denom = (unit * scale).clamp_min(floor)
    ratio = torch.where(where, e_t / denom, torch.zeros_like(e_t))
    ratio = torch.nan_to_num(ratio, nan=math.inf, posinf=math.inf)
    worst = int(ratio.reshape(-1).argmax()) if ratio.numel() else 0
    flat = lambda x: x.reshape(-1)  # noqa: E731
    t_ulps = float(flat(e_t / denom)[worst]) if e_t.numel() else math.nan
    torch_ulps = float(flat(e_torch / denom)[worst]) if e_t.numel() else math.nan
    budget_ulps = float(flat(allowed / denom)[worst]) if e_t.numel() else math.nan
    t64, f64 = _real_view(T), _real_view(forloop)
    diff = (t64 - f64).abs()
    finite = diff.isfinite()
    max_abs = float(diff[finite].max()) if bool(finite.any()) else math.inf
    rel = diff / scale.clamp_min(floor)
    max_rel = float(rel[finite].max()) if bool(finite.any()) else math.inf
    if kind != "precision" and not bool(finite.all()):
        max_abs = max_rel = math.inf
    cause = _cause(kind, ctx.problem, param)
    if kind in FAILING and nonfinite_hyperparameters(ctx.problem):
        kind = "non-finite hyperparameter"
    # NaN where torch keeps inf (or the reverse) in a state entry, after a non-finite input:
    # the parameters are compared too, and the kind of a non-finite EMA (torch's lerp gives
    # NaN where beta m + (1 - beta) g gives inf) is not behaviour a user sees
    state_kind = kind == "non-finite kind" and key is not None
    return Finding(
        kind, k, what, detail, param=param, key=key,
        target_ulps=t_ulps if kind not in ("overflow", "non-finite kind") else math.nan,
        torch_ulps=torch_ulps if kind not in ("overflow", "non-finite kind") else math.nan,
        budget_ulps=budget_ulps if kind not in ("overflow", "non-finite kind") else math.nan,
        max_abs=max_abs, max_rel=max_rel, cause=cause,
        mode="forloop", target_value=T, reference_value=forloop, oracle_value=orc,
        reported_only=state_kind,
    )  # fmt: skip


def _cause(kind: str, problem: Problem, param: int) -> str | None:
    """The likely cause, where the problem shows it."""
    p = problem.params[param]
    real = tolerances.real_dtype(p.dtype)
    if kind in ("overflow", "non-finite kind") and real.is_floating_point:
        biggest = 0.0
        for row in problem.grads:
            g = row[param] if param < len(row) else None
            if g is not None:
                values = _real_view(g).abs()
                values = values[values.isfinite()]
                if values.numel():
                    biggest = max(biggest, float(values.max()))
        limit = float(torch.finfo(real).max)
        if biggest * biggest > limit:
            return (
                f"an intermediate may overflow: |g| reaches {biggest:.3g}, so g·g exceeds "
                f"{real}'s largest value {limit:.3g} (torch scales before it squares)"
            )
        if kind == "non-finite kind":
            return "NaN where torch has inf (or the reverse): e.g. inf - inf or 0·inf"
    if kind in ("mismatch", "precision"):
        for hyper in problem.hyper:
            for key, value in hyper.items():
                if isinstance(value, Tensor) and value.dtype != p.dtype and not p.is_complex():
                    return (
                        f"{key} is a {value.dtype} tensor on {p.dtype} parameters: torch "
                        f"computes with it in {value.dtype}"
                    )
    return None


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
    ctx = _Context(problem, target, usable, oracle, perturbed)
    # torch implementations that depart from the maths themselves are left out
    for mode in [m for m in usable if m != "forloop"]:
        others = {"forloop": forloop}
        sub = _Context(problem, usable[mode], others, ctx.oracle, ctx.perturbed)
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
    numeric = _first_numeric(ctx, problem, strict=strict, upto=stop, notes=verdict.notes)
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
    ctx = _Context(problem, target, dict(references), oracle)
    forloop = references["forloop"]
    worst = 0.0
    for k in sorted(target.snapshots):
        if k not in forloop.snapshots:
            continue
        for i in range(len(problem.params)):
            for key in [None, *forloop.snapshots[k].state[i]]:
                T = _as_tensor(_value(target.snapshots[k], i, key))
                R = _as_tensor(_value(forloop.snapshots[k], i, key))
                if T is None or R is None or T.shape != R.shape:
                    continue
                if not (T.is_floating_point() or T.is_complex()):
                    continue
                orc = _as_tensor(_value(ctx.oracle().snapshots[k], i, key))
                orc = orc if orc is not None and orc.shape == T.shape else R
                t64, o64, r64 = _real_view(T), _real_view(orc), _real_view(R)
                ok = t64.isfinite() & o64.isfinite() & r64.isfinite()
                if not bool(ok.any()):
                    continue
                dtype = T.dtype if key is not None else problem.params[i].dtype
                b, unit = tolerances.budget(dtype), _operand_unit(problem, i, dtype)
                scale = _grow(_scale(ctx, i, key, k, t64.shape), orc)
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
    ctx: _Context,
    problem: Problem,
    *,
    strict: bool,
    upto: int,
    notes: list[Finding] | None = None,
    only: frozenset[str] | None = None,
) -> Finding | None:
    """The first failing finding over the snapshots before step ``upto`` (of a kind in
    ``only``, when given)."""
    target = ctx.target
    for k in sorted(target.snapshots):
        if k >= upto or any(k not in run.snapshots for run in ctx.references.values()):
            continue
        found = _step_findings(ctx, problem, k, strict=strict, notes=notes, only=only)
        if found is not None:
            return found
    return None


def _step_findings(
    ctx: _Context,
    problem: Problem,
    k: int,
    *,
    strict: bool,
    notes: list[Finding] | None,
    only: frozenset[str] | None,
) -> Finding | None:
    """The failing finding at step ``k``: a range effect (overflow, non-finite kind) before a
    numeric mismatch it may have caused, else the first in parameter and key order."""
    target = ctx.target
    failing: list[Finding] = []
    t_snap, r_snap = target.snapshots[k], ctx.references["forloop"].snapshots[k]
    if problem.objective is not None and t_snap.closure_calls != r_snap.closure_calls:
        return Finding(
            "mismatch", k, "closure calls",
            f"target evaluated the closure {t_snap.closure_calls} times, torch "
            f"{r_snap.closure_calls}",
        )  # fmt: skip
    for i, p in enumerate(problem.params):
        found = _compare(ctx, k, i, None, "param", p.dtype)
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
            found = _compare(ctx, k, i, key, "state", dtype)
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
