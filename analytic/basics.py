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

from analytic._common import is_zero, symbolic, table
from analytic.verdict import Context, Verdict

__all__ = ["CHECKS"]

x = sp.Symbol("x", real=True)


def check_grad(ctx: Context) -> Verdict:
    r"""N002.autograd.grad (note 002 lines 116-133): :math:`\partial/\partial x_{ij}\,\tfrac14\sum
    x^2 = x_{ij}/2`;
    torch autograd on [[1,2],[3,4]] returns [[0.5,1],[1.5,2]]."""
    X = sp.Matrix(2, 2, sp.symbols("x_11 x_12 x_21 x_22", real=True))
    mean = sum(v**2 for v in X) / 4
    grad = X.applyfunc(lambda v: sp.diff(mean, v))
    sym_ok = all(is_zero(a - b / 2) for a, b in zip(grad, X, strict=True))
    t = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    torch.mean(t * t).backward()
    assert t.grad is not None
    torch_ok = bool(torch.equal(t.grad, t.detach() / 2))
    ev = (
        symbolic("symbolic gradient of mean(x⊙x)", grad),
        table(
            "autograd on [[1,2],[3,4]]",
            ("torch grad", "x/2", "equal"),
            ((t.grad.tolist(), (t.detach() / 2).tolist(), torch_ok),),
        ),
    )
    ok = sym_ok and torch_ok
    return Verdict(
        "holds" if ok else "fails",
        "the gradient is x/2 symbolically and in torch" if ok else "mismatch",
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
    expected = {
        "relu": sp.Interval(0, sp.oo),
        "sigmoid": sp.Interval.open(0, 1),
        "tanh": sp.Interval.open(-1, 1),
        "softplus": sp.Interval.open(0, sp.oo),
    }
    got = {}
    for name, e in funcs.items():
        if name == "relu":  # function_range does not handle Max; split at 0
            got[name] = sp.Union(sp.FiniteSet(0), function_range(x, x, sp.Interval(0, sp.oo)))
        else:
            got[name] = function_range(e, x, sp.S.Reals)
    ok = all(got[k] == expected[k] for k in funcs)
    big = torch.tensor([20.0, -20.0, -120.0])
    f32 = (
        ("sigmoid(20)", float(torch.sigmoid(big[0]))),
        ("tanh(20)", float(torch.tanh(big[0]))),
        ("tanh(−20)", float(torch.tanh(big[1]))),
        ("softplus(−120)", float(torch.nn.functional.softplus(big[2]))),
    )
    endpoint_hit = f32[0][1] == 1.0 and f32[3][1] == 0.0
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
            "relu ∈ [0, ∞), sigmoid ∈ (0, 1), tanh ∈ (−1, 1), softplus ∈ (0, ∞) exactly",
            condition=(
                "over the reals; in float32 sigmoid(20) = 1.0, tanh(±20) = ±1.0 "
                "and softplus(−120) = 0.0 hit the excluded ends"
            ),
            evidence=ev,
        )
    return Verdict(
        "holds" if ok else "fails", "ranges as stated" if ok else "a range differs", evidence=ev
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N002.autograd.grad": check_grad,
    "N002.act.ranges": check_ranges,
}
