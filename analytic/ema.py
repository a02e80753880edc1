r"""Exponentially weighted averages and bias correction (notes 000, 003, 004).

The EMA :math:`y_t = \beta y_{t-1} + (1-\beta)x_t`, :math:`y_0 = 0`, unrolls to
:math:`y_t = (1-\beta)\sum_{i=1}^{t}\beta^{t-i}x_i`, whose weights sum to
:math:`1-\beta^t`; the sum :math:`(1-\beta)\sum_{i=0}^{t}\beta^i` has :math:`t+1` terms and
equals :math:`1-\beta^{t+1}`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import sympy as sp

from analytic._common import is_zero, symbolic, table, text
from analytic.verdict import Context, Verdict

__all__ = ["CHECKS"]

beta = sp.Symbol("beta", positive=True)
u = sp.Symbol("u", positive=True)  # beta = 1/(1+u) parametrises 0 < beta < 1
t = sp.Symbol("t", integer=True, nonnegative=True)
i = sp.Symbol("i", integer=True, nonnegative=True)


def ema_weight_sum(lo: int, hi: sp.Expr) -> sp.Expr:
    r""":math:`(1-\beta)\sum_{i=lo}^{hi}\beta^i` in closed form."""
    return sp.simplify((1 - beta) * sp.summation(beta**i, (i, lo, hi)))


def check_ema_sum_004(ctx: Context) -> Verdict:
    r"""N004.ema.sum (note 004 lines 660-671): the note writes
    :math:`(1-\beta)\sum_{i=0}^{t}\beta^i = 1-\beta^t`.

    The sum has :math:`t+1` terms, so it equals :math:`1-\beta^{t+1}`; the note's
    right-hand side belongs to :math:`\sum_{i=0}^{t-1}` (or to the 1-based sum of note
    004 line 1181). Counterexample: :math:`t = 0` gives :math:`1-\beta` on the left and 0
    on the right.
    """
    lhs = ema_weight_sum(0, t)
    claimed = 1 - beta**t
    corrected = 1 - beta ** (t + 1)
    proved = is_zero(sp.simplify(lhs.subs(beta, 1 / (1 + u))) - corrected.subs(beta, 1 / (1 + u)))
    diff_claimed = sp.simplify(lhs - claimed)
    rows = []
    for b, tt in ((sp.Rational(1, 2), 0), (sp.Rational(1, 2), 1), (sp.Rational(9, 10), 2)):
        left = sum((1 - b) * b**k for k in range(tt + 1))
        rows.append((str(b), tt, str(left), str(1 - b**tt), str(1 - b ** (tt + 1))))
    fails = any(r[2] != r[3] for r in rows)
    corrected_ok = proved and all(r[2] == r[4] for r in rows)
    ev = (
        symbolic("left side in closed form", sp.Eq(sp.Symbol("LHS"), lhs)),
        symbolic("left side minus the note's right side", diff_claimed),
        symbolic("corrected statement", sp.Eq((1 - beta) * sp.Sum(beta**i, (i, 0, t)), corrected)),
        table(
            "counterexamples (exact rationals)",
            ("β", "t", "(1−β)Σ_{i=0}^{t} βⁱ", "note: 1−βᵗ", "corrected: 1−β^{t+1}"),
            rows,
        ),
    )
    if fails and corrected_ok:
        return Verdict(
            "fails",
            "off by one: (1−β)Σ_{i=0}^{t} βⁱ = 1 − β^{t+1}, not 1 − βᵗ (t = 0: 1−β ≠ 0)",
            evidence=ev,
        )
    return Verdict("holds", "the identity holds", evidence=ev)


def check_adam_bias(ctx: Context) -> Verdict:
    r"""N004.adam.bias (note 004 lines 1181-1190): :math:`(1-\beta_1)\sum_{i=1}^{t}\beta_1^{t-i} =
    1-\beta_1^t`;
    :math:`m_1 = 0.1 g_1` for :math:`\beta_1 = 0.9`; dividing by :math:`1-\beta_1^t` makes the
    weights sum to 1.
    """
    tt = sp.Symbol("t", integer=True, positive=True)
    s = (1 - beta) * sp.summation(beta ** (tt - i), (i, 1, tt))
    ok1 = is_zero(sp.simplify(s.subs(beta, 1 / (1 + u))) - (1 - (1 / (1 + u)) ** tt))
    g1 = sp.Symbol("g_1", real=True)
    m1 = sp.Rational(9, 10) * 0 + (1 - sp.Rational(9, 10)) * g1
    ok2 = is_zero(m1 - sp.Rational(1, 10) * g1)
    ok3 = is_zero(sp.simplify((s / (1 - beta**tt)).subs(beta, 1 / (1 + u))) - 1)
    ev = (
        symbolic(
            "weight sum", sp.Eq((1 - beta) * sp.Sum(beta ** (tt - i), (i, 1, tt)), 1 - beta**tt)
        ),
        symbolic("first moment after one step, β₁ = 9/10, m₀ = 0", sp.Eq(sp.Symbol("m_1"), m1)),
        table(
            "checks",
            ("statement", "proved"),
            (
                ("weights sum to 1 − β₁ᵗ", ok1),
                ("m₁ = g₁/10", ok2),
                ("corrected weights sum to 1", ok3),
            ),
        ),
    )
    ok = ok1 and ok2 and ok3
    return Verdict(
        "holds" if ok else "fails",
        "all three statements are identities for 0 < β₁ < 1" if ok else "an identity failed",
        evidence=ev,
    )


def check_bias_vanish(ctx: Context) -> Verdict:
    r"""N000.adam.biasvanish (note 000 line 655): :math:`1/(1-\beta^t) \to 1` as :math:`t\to\infty`.

    Proved for :math:`0<\beta<1` by writing :math:`\beta = 1/(1+u)`, :math:`u>0`; at
    :math:`\beta = 0` the factor is 1 for every t. The note's own text allows
    :math:`\beta = 1` (":math:`0 \le \beta_1, \beta_2 \le 1`"), where :math:`1-\beta^t = 0`
    and the correction divides by zero.
    """
    tt = sp.Symbol("t", positive=True)
    factor = 1 / (1 - (1 / (1 + u)) ** tt)
    lim = sp.limit(factor, tt, sp.oo)
    at_one = (1 / (1 - beta**tt)).subs(beta, 1)
    at_zero = (1 / (1 - beta**tt)).subs(beta, 0)
    ev = (
        symbolic(
            "limit for 0 < β < 1 (β = 1/(1+u), u > 0)", sp.Eq(sp.Limit(factor, tt, sp.oo), lim)
        ),
        table(
            "edge values",
            ("β", "1/(1 − βᵗ)"),
            (("0", str(at_zero)), ("1 (allowed by the note's ≤ 1)", str(at_one))),
        ),
        table(
            "β = 0.999 (Adam's β₂)",
            ("t", "1/(1 − 0.999ᵗ)"),
            [(n, f"{1 / (1 - 0.999**n):.4f}") for n in (1, 10, 100, 1000, 5000)],
        ),
    )
    if lim == 1 and at_zero == 1 and at_one in (sp.zoo, sp.oo, sp.nan):
        return Verdict(
            "holds-if",
            "the correction factor tends to 1, but slowly for β₂ = 0.999 (still 1.58 at t = 1000)",
            condition="0 ≤ β < 1 (the note writes ≤ 1; at β = 1 the correction divides by zero)",
            evidence=ev,
        )
    return Verdict("fails", f"limit is {lim}", evidence=ev)


def check_window(ctx: Context) -> Verdict:
    r"""N003.ema.window (note 003 lines 276-278): β = 0.9 "mostly remembers the last 10 steps".

    :math:`1/(1-\beta) = 10` is the lag at which a weight has fallen by :math:`\beta^{10}
    \approx e^{-1}`; the last 10 weights carry :math:`1-\beta^{10} \approx 65.1\%` of the
    total, and 90 % needs :math:`\lceil \ln 0.1/\ln 0.9\rceil = 22` steps.
    """
    b = sp.Rational(9, 10)
    window = 1 / (1 - b)
    share10 = 1 - b**10
    need90 = math.ceil(math.log(0.1) / math.log(0.9))
    need50 = math.ceil(math.log(0.5) / math.log(0.9))
    ev = (
        symbolic("window", sp.Eq(sp.Symbol("n"), window)),
        table(
            "share of the total weight held by the last n steps (β = 0.9)",
            ("n", "1 − 0.9ⁿ"),
            [(n, f"{float(1 - b**n):.4f}") for n in (need50, 10, need90, 44)],
        ),
        text(
            "reading",
            (
                f"weight at lag 10 relative to lag 0: 0.9^10 = {float(b**10):.4f} "
                f"≈ e⁻¹ = {math.exp(-1):.4f}"
            ),
        ),
    )
    if window == 10 and share10 > sp.Rational(1, 2):
        return Verdict(
            "holds-if",
            (
                f"1/(1−β) = 10 and the last 10 steps hold {float(share10):.1%} "
                "of the weight (a majority, not nearly all)"
            ),
            condition=(
                "'mostly' read as 'a majority' (65.1 %); holding 90 % of the "
                f"weight takes {need90} steps"
            ),
            evidence=ev,
        )
    return Verdict("fails", "the last 10 steps do not hold most of the weight", evidence=ev)


def check_e(ctx: Context) -> Verdict:
    r"""N004.ema.e (note 004 lines 674-690): :math:`\beta^{1/(1-\beta)}\to e^{-1}` as
    :math:`\beta\to1^-`, and :math:`0.95^{20}\approx e^{-1}`.
    """
    lim = sp.limit(beta ** (1 / (1 - beta)), beta, 1, dir="-")
    v = 0.95**20
    rel = abs(v - math.exp(-1)) / math.exp(-1)
    ev = (
        symbolic("limit", sp.Eq(sp.Limit(beta ** (1 / (1 - beta)), beta, 1, dir="-"), lim)),
        table(
            "β^{1/(1−β)} against e⁻¹",
            ("β", "β^{1/(1−β)}", "e⁻¹", "relative gap"),
            [
                (
                    bb,
                    f"{bb ** (1 / (1 - bb)):.4f}",
                    f"{math.exp(-1):.4f}",
                    f"{abs(bb ** (1 / (1 - bb)) - math.exp(-1)) / math.exp(-1):.2%}",
                )
                for bb in (0.5, 0.9, 0.95, 0.99, 0.999)
            ],
        ),
    )
    ok = lim == sp.exp(-1) and rel < 0.05
    return Verdict(
        "holds" if ok else "fails",
        (
            f"the limit is e⁻¹ exactly; 0.95²⁰ = {v:.4f} is {rel:.1%} "
            f"{'below' if v < math.exp(-1) else 'above'} "
            f"e⁻¹ = {math.exp(-1):.4f}"
        ),
        evidence=ev,
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N004.ema.sum": check_ema_sum_004,
    "N004.adam.bias": check_adam_bias,
    "N000.adam.biasvanish": check_bias_vanish,
    "N003.ema.window": check_window,
    "N004.ema.e": check_e,
}
