r"""Autograd and activation functions (note 002).

:math:`\mathrm{mean}(x\odot x) = \tfrac14\sum_{ij}x_{ij}^2` for a 2×2 :math:`x`, so its
gradient is :math:`x/2`. Ranges over the reals: relu :math:`[0,\infty)`, sigmoid
:math:`(0,1)`, tanh :math:`(-1,1)`, softplus :math:`(0,\infty)`.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp
import torch
from sympy.calculus.util import function_range

from optverify.analytic._common import is_zero, symbolic, table
from optverify.analytic.verdict import Context, Verdict

__all__ = ["CHECKS"]

x = sp.Symbol("x", real=True)


def check_grad(ctx: Context) -> Verdict:
    r"""N002.autograd.grad (note 002 lines 116-133): :math:`\partial/\partial x_{ij}\,\tfrac14\sum
    x^2 = x_{ij}/2`;
    torch autograd on [[1,2],[3,4]] returns [[0.5,1],[1.5,2]]."""
    X = sp.Matrix(2, 2, sp.symbols("x_11 x_12 x_21 x_22", real=True))
    mean = sum(v**2 for v in X) / 4
    grad = X.applyfunc(lambda v: sp.diff(mean, v))
    factor = sp.nsimplify(ctx.given("factor", sp.Rational(1, 2)))  # the note's x/2
    sym_ok = all(is_zero(a - factor * b) for a, b in zip(grad, X, strict=True))
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    torch.mean(t * t).backward()
    assert t.grad is not None
    torch_ok = bool(torch.equal(t.grad, t.detach() * float(factor)))
    ev = (
        symbolic("symbolic gradient of mean(x⊙x)", grad),
        table(
            "autograd on [[1,2],[3,4]]",
            ("torch grad", f"{factor}·x", "equal"),
            ((t.grad.tolist(), (t.detach() * float(factor)).tolist(), torch_ok),),
        ),
    )
    ok = sym_ok and torch_ok
    return Verdict(
        "holds" if ok else "fails",
        "the gradient is x/2 symbolically and in torch"
        if ok
        else f"the gradient is x/2 (sympy), torch {t.grad.tolist()}; not {factor}·x",
        evidence=ev,
    )


def check_ranges(ctx: Context) -> Verdict:
    """N002.act.ranges (note 002 lines 185-191): exact ranges over ℝ, and where float32 reaches
    the ends."""
    funcs = {
        "relu": sp.Max(0, x),
        "sigmoid": 1 / (1 + sp.exp(-x)),
        "tanh": sp.tanh(x),
        "softplus": sp.log(1 + sp.exp(x)),
    }
    expected = ctx.given("expected", {
        "relu": sp.Interval(0, sp.oo),
        "sigmoid": sp.Interval.open(0, 1),
        "tanh": sp.Interval.open(-1, 1),
        "softplus": sp.Interval.open(0, sp.oo),
    })  # fmt: skip
    probe = float(ctx.given("probe", 20.0))
    got = {}
    for name, e in funcs.items():
        if name == "relu":  # function_range does not handle Max; split at 0
            got[name] = sp.Union(sp.FiniteSet(0), function_range(x, x, sp.Interval(0, sp.oo)))
        else:
            got[name] = function_range(e, x, sp.S.Reals)
    ok = all(got[k] == expected[k] for k in funcs)
    big = torch.tensor([probe, -probe, -6 * probe])
    f32 = (
        (f"sigmoid({probe:g})", float(torch.sigmoid(big[0]))),
        (f"tanh({probe:g})", float(torch.tanh(big[0]))),
        (f"tanh(−{probe:g})", float(torch.tanh(big[1]))),
        (f"softplus(−{6 * probe:g})", float(torch.nn.functional.softplus(big[2]))),
    )
    endpoint_hit = f32[0][1] == 1.0 or f32[3][1] == 0.0
    ev = (
        table(
            "ranges over ℝ",
            ("function", "sympy range", "note's comment"),
            [
                (k, str(got[k]), note)
                for k, note in zip(funcs, ("0 ->", "0 ~ 1", "-1 ~ 1", "0 ~"), strict=True)
            ],
        ),
        table("float32 reaches the open ends", ("value", "float32"), f32),
    )
    if ok and endpoint_hit:
        return Verdict(
            "holds-if",
            "relu ∈ [0, ∞), sigmoid ∈ (0, 1), tanh ∈ (−1, 1), softplus ∈ (0, ∞) exactly over "
            "the reals; the note computes them with float32 torch tensors, where the open ends "
            "are reached",
            condition="exact (real) arithmetic; the note's code uses float32 and states none",
            outside=", ".join(f"{k} = {v:g}" for k, v in f32) + " in float32",
            evidence=ev,
        )
    bad = [k for k in funcs if got[k] != expected[k]]
    return Verdict(
        "holds" if ok else "fails",
        "ranges as stated, also in float32 at the probed inputs"
        if ok
        else f"{bad[0]} maps onto {got[bad[0]]}, not {expected[bad[0]]}",
        evidence=ev,
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N002.autograd.grad": check_grad,
    "N002.act.ranges": check_ranges,
}
