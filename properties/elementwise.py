r"""Judge one value: a target's parameter or state entry at one step, against torch's and the
exact maths'.

A value the target reproduces bit for bit from some torch implementation passes. Otherwise,
elementwise, non-finite values are compared by kind with torch's (1: non-finite where torch
is finite everywhere; 2: torch non-finite everywhere) and finite ones by their distance from
the oracle, within the budget of :mod:`optverify.properties.budget` (3); the first that fails
is the :class:`~optverify.properties.findings.Finding`, else a ``precision`` note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optverify.properties import tolerances
from optverify.properties.budget import (
    Runs,
    as_tensor,
    condition,
    grow,
    operand_unit,
    real_view,
    scale_of,
    unit,
    value_of,
)
from optverify.properties.comparison import same_bits
from optverify.properties.findings import FAILING, Finding, nonfinite_hyperparameters
from optverify.properties.harness import Problem

__all__ = ["compare_value"]


def _bits_equal(a: Any, b: Any) -> bool:
    """Bit for bit the same value (a sparse tensor is not its dense twin)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a.is_sparse == b.is_sparse and same_bits(a, b)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return bool(a == b)
    except Exception:
        return False


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


def compare_value(
    runs: Runs, k: int, param: int, key: str | None, what: str, dtype: torch.dtype
) -> Finding | None:
    """Judge one value at step ``k``: a failing finding, a precision note, or ``None``."""
    t_raw = value_of(runs.target.snapshots[k], param, key)
    refs = {m: value_of(run.snapshots[k], param, key) for m, run in runs.references.items()}
    if any(_bits_equal(t_raw, r) for r in refs.values()):
        return None
    T = as_tensor(t_raw)
    R = {m: as_tensor(v) for m, v in refs.items()}
    forloop = R["forloop"]
    if T is None or forloop is None:
        kind = "mismatch" if key is None else "state layout"
        return Finding(kind, k, what, f"{t_raw!r} where torch has {refs['forloop']!r}",
                       param=param, key=key, mode="forloop")  # fmt: skip
    if T.shape != forloop.shape:
        kind = "mismatch" if key is None else "state layout"
        detail = f"shape {tuple(T.shape)} where torch has {tuple(forloop.shape)}"
        return Finding(kind, k, what, detail, param=param, key=key, mode="forloop")
    oracle_raw = value_of(runs.oracle().snapshots[k], param, key)
    orc = as_tensor(oracle_raw)
    if orc is None or orc.shape != T.shape:
        orc = forloop
    t64, o64 = real_view(T), real_view(orc)
    r64 = {m: real_view(v) for m, v in R.items() if v is not None and v.shape == T.shape}
    budget = tolerances.budget(dtype)
    scale = scale_of(runs, param, key, k, t64.shape)
    scale = grow(scale, orc)
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
    u = unit(dtype)
    narrow = operand_unit(runs.problem, param, dtype)
    if narrow > u and bool((e_torch > budget.ulps * u * scale * (k + 1)).any()):
        u = narrow  # torch itself rounds at a narrower hyperparameter's precision here
    allowed = budget.factor * e_torch + budget.ulps * u * scale * (k + 1)
    within = e_t <= allowed
    if not bool(within.all()):
        allowed, within = condition(runs, k, param, key, T.shape, o_safe, e_t, allowed, scale)
    m = _Measured(runs, k, param, key, what, T, forloop, orc, e_t, e_torch, allowed, u, scale)
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
            return m.finding(
                "mismatch", bad | moved, "non-finite values in other places than torch's"
            )
        return m.finding("overflow", bad, "non-finite where torch is finite")
    # 2. torch non-finite everywhere: the target must be non-finite of a kind torch has, or
    #    finite and within budget of the maths
    kind_ok = (torch_kinds == t_kind.unsqueeze(0)).any(0)
    # the kind is judged where torch's for-loop has the kind of the maths rounded to the
    # dtype (beyond its range: inf of the maths' sign); where it has another (float16 +inf
    # where the maths is -2.5e5) neither is right and torch is no authority on the kind
    rounded = _kinds(real_view(orc.to(T.dtype)) if orc.dtype != T.dtype else o64, cplx)
    torch_right = _kinds(r64["forloop"], cplx) == rounded
    wrong_kind = torch_nonfinite & (t_kind != 0) & ~kind_ok & torch_right
    if bool(wrong_kind.any()):
        return m.finding("non-finite kind", wrong_kind, _OTHER_KIND)
    finite_where_not = torch_nonfinite & (t_kind == 0) & ~(o_finite & within)
    lost = finite_where_not & ~o_finite
    if bool(lost.any()):
        # the exact maths is non-finite too (an inf or NaN input): not a range effect of
        # torch's dtype that the target avoided, but a value the target failed to carry
        return m.finding("mismatch", lost, "finite where the exact maths and torch are not")
    if bool(finite_where_not.any()):
        return m.finding("overflow", finite_where_not, "finite where torch is not")
    # 3. torch finite everywhere (or torch's implementations disagree on finiteness: a
    #    finite target must then be within budget, a non-finite one of a kind torch has)
    mixed = ~torch_finite & ~torch_nonfinite
    numeric = (torch_finite | (mixed & (t_kind == 0))) & (t_kind == 0)
    mixed_bad = mixed & (t_kind != 0) & ~kind_ok
    far = numeric & ~within
    if bool(far.any()):
        return m.finding("mismatch", far, "farther from the exact maths than torch")
    if bool(mixed_bad.any()):
        return m.finding("non-finite kind", mixed_bad, _OTHER_KIND)
    return m.finding("precision", numeric, "within budget, not bit for bit")


_OTHER_KIND = "a non-finite value of another kind than torch's"


@dataclass(frozen=True)
class _Measured:
    """One value measured: the target's ``T``, torch's for-loop's and the oracle's, the
    errors from the maths (the target's ``e_t``, torch's worst ``e_torch``), what was
    ``allowed``, and the unit roundoff and scale they are measured in."""

    runs: Runs
    k: int
    param: int
    key: str | None
    what: str
    T: Tensor
    forloop: Tensor
    orc: Tensor
    e_t: Tensor
    e_torch: Tensor
    allowed: Tensor
    unit: float
    scale: Tensor

    def finding(self, kind: str, where: Tensor, detail: str) -> Finding:
        """The finding of ``kind``, told at its worst element among ``where``."""
        e_t, scale = self.e_t, self.scale
        floor = torch.finfo(torch.float64).tiny
        denom = (self.unit * scale).clamp_min(floor)
        ratio = torch.where(where, e_t / denom, torch.zeros_like(e_t))
        ratio = torch.nan_to_num(ratio, nan=math.inf, posinf=math.inf)
        worst = int(ratio.reshape(-1).argmax()) if ratio.numel() else 0

        def ulps(x: Tensor) -> float:
            return float((x / denom).reshape(-1)[worst]) if e_t.numel() else math.nan

        t64, f64 = real_view(self.T), real_view(self.forloop)
        diff = (t64 - f64).abs()
        finite = diff.isfinite()
        max_abs = float(diff[finite].max()) if bool(finite.any()) else math.inf
        rel = diff / scale.clamp_min(floor)
        max_rel = float(rel[finite].max()) if bool(finite.any()) else math.inf
        if kind != "precision" and not bool(finite.all()):
            max_abs = max_rel = math.inf
        problem = self.runs.problem
        cause = _cause(kind, problem, self.param)
        if kind in FAILING and nonfinite_hyperparameters(problem):
            kind = "non-finite hyperparameter"
        # NaN where torch keeps inf (or the reverse) in a state entry, after a non-finite
        # input: the parameters are compared too, and the kind of a non-finite EMA (torch's
        # lerp gives NaN where beta m + (1 - beta) g gives inf) is not behaviour a user sees
        state_kind = kind == "non-finite kind" and self.key is not None
        ranged = kind in ("overflow", "non-finite kind")
        return Finding(
            kind, self.k, self.what, detail, param=self.param, key=self.key,
            target_ulps=math.nan if ranged else ulps(e_t),
            torch_ulps=math.nan if ranged else ulps(self.e_torch),
            budget_ulps=math.nan if ranged else ulps(self.allowed),
            max_abs=max_abs, max_rel=max_rel, cause=cause,
            mode="forloop", target_value=self.T, reference_value=self.forloop,
            oracle_value=self.orc, reported_only=state_kind,
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
                values = real_view(g).abs()
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
