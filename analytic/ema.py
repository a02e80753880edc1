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

from optverify.analytic._common import is_zero, symbolic, table, text
from optverify.analytic.verdict import Context, Verdict

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
    claimed = ctx.given("claimed", 1 - beta**t)
    corrected = 1 - beta ** (t + 1)
    proved = is_zero(sp.simplify(lhs.subs(beta, 1 / (1 + u))) - corrected.subs(beta, 1 / (1 + u)))
    diff_claimed = sp.simplify(lhs - claimed)
    rows = []
    for b, tt in ((sp.Rational(1, 2), 0), (sp.Rational(1, 2), 1), (sp.Rational(9, 10), 2)):
        left = sum((1 - b) * b**k for k in range(tt + 1))
        rows.append((str(b), tt, str(left), str(claimed.subs({beta: b, t: tt})),
                     str(1 - b ** (tt + 1))))  # fmt: skip
    fails = any(r[2] != r[3] for r in rows)
    corrected_ok = proved and all(r[2] == r[4] for r in rows)
    ev = (
        symbolic("left side in closed form", sp.Eq(sp.Symbol("LHS"), lhs)),
        symbolic("left side minus the note's right side", diff_claimed),
        symbolic("corrected statement", sp.Eq((1 - beta) * sp.Sum(beta**i, (i, 0, t)), corrected)),
        table(
            "counterexamples (exact rationals)",
            ("β", "t", "(1−β)Σ_{i=0}^{t} βⁱ", "note's right side", "corrected: 1−β^{t+1}"),
            rows,
        ),
    )
    if fails and corrected_ok:
        r = next(r for r in rows if r[2] != r[3])
        return Verdict(
            "fails",
            f"off by one: (1−β)Σ_{{i=0}}^{{t}} βⁱ = 1 − β^{{t+1}}, not {claimed} "
            f"(β = {r[0]}, t = {r[1]}: {r[2]} ≠ {r[3]})",
            evidence=ev,
        )
    if not fails and is_zero(diff_claimed.subs(beta, 1 / (1 + u))):
        return Verdict("holds", f"(1−β)Σ_{{i=0}}^{{t}} βⁱ = {claimed} for every t", evidence=ev)
    return Verdict("fails", f"the closed form {lhs} could not be matched", evidence=ev)


def check_adam_bias(ctx: Context) -> Verdict:
    r"""N004.adam.bias (note 004 lines 1181-1190): :math:`(1-\beta_1)\sum_{i=1}^{t}\beta_1^{t-i} =
    1-\beta_1^t`;
    :math:`m_1 = 0.1 g_1` for :math:`\beta_1 = 0.9`; dividing by :math:`1-\beta_1^t` makes the
    weights sum to 1.
    """
    tt = sp.Symbol("t", integer=True, positive=True)
    s = (1 - beta) * sp.summation(beta ** (tt - i), (i, 1, tt))
    claimed_sum = ctx.given("claimed_sum", lambda b, n: 1 - b**n)
    ok1 = is_zero(sp.simplify(s.subs(beta, 1 / (1 + u))) - claimed_sum(1 / (1 + u), tt))
    g1 = sp.Symbol("g_1", real=True)
    b1 = sp.nsimplify(ctx.given("beta1", sp.Rational(9, 10)))
    m1 = b1 * 0 + (1 - b1) * g1
    ok2 = is_zero(m1 - sp.nsimplify(ctx.given("m1_factor", sp.Rational(1, 10))) * g1)
    ok3 = is_zero(sp.simplify((s / (1 - beta**tt)).subs(beta, 1 / (1 + u))) - 1)
    ev = (
        symbolic(
            "weight sum", sp.Eq((1 - beta) * sp.Sum(beta ** (tt - i), (i, 1, tt)), 1 - beta**tt)
        ),
        symbolic(f"first moment after one step, β₁ = {b1}, m₀ = 0", sp.Eq(sp.Symbol("m_1"), m1)),
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
        "all three statements are identities for 0 < β₁ < 1"
        if ok
        else "not shown: "
        + ", ".join(
            n for n, v in (("weight sum", ok1), ("m₁", ok2), ("corrected sum", ok3)) if not v
        ),
        evidence=ev,
    )


#: note 000 line 655, the premise as the note writes it: "当 0 ≤ β₁, β₂ ≤ 1 的时候"
NOTE_000_BETA = "0 ≤ β₁, β₂ ≤ 1"


def check_bias_vanish(ctx: Context) -> Verdict:
    r"""N000.adam.biasvanish (note 000 line 655): :math:`1/(1-\beta^t) \to 1` as :math:`t\to\infty`.

    The note's own premise is ":math:`0 \le \beta_1, \beta_2 \le 1`" (the catalogue writes
    < 1). The limit is decided at each part of the note's range: the interior
    :math:`0<\beta<1` (by :math:`\beta = 1/(1+u)`, :math:`u>0`), and the ends β = 0 and,
    when the premise includes it, β = 1, where :math:`1-\beta^t = 0`.

    Input ``premise``: ``"0 ≤ β ≤ 1"`` (the note's) or ``"0 ≤ β < 1"`` (the catalogue's).
    """
    premise = ctx.given("premise", "0 ≤ β ≤ 1")
    tt = sp.Symbol("t", positive=True)
    factor = 1 / (1 - (1 / (1 + u)) ** tt)
    lim = sp.limit(factor, tt, sp.oo)
    ends = {"0": sp.Integer(0)}
    if premise.endswith("≤ 1"):
        ends["1"] = sp.Integer(1)
    at_end = {k: (1 / (1 - beta**tt)).subs(beta, v) for k, v in ends.items()}
    bad_ends = [k for k, v in at_end.items() if sp.limit(v, tt, sp.oo) != 1 or v.has(sp.zoo)]
    ev = (
        text("premise", f"note 000 line 655 writes {NOTE_000_BETA}; decided: {premise}"),
        symbolic(
            "limit for 0 < β < 1 (β = 1/(1+u), u > 0)", sp.Eq(sp.Limit(factor, tt, sp.oo), lim)
        ),
        table("ends of the premise", ("β", "1/(1 − βᵗ)"), [(k, str(v)) for k, v in at_end.items()]),
        table(
            "β = 0.999 (Adam's β₂)",
            ("t", "1/(1 − 0.999ᵗ)"),
            [(n, f"{1 / (1 - 0.999**n):.4f}") for n in (1, 10, 100, 1000, 5000)],
        ),
    )
    if lim != 1:
        return Verdict("fails", f"for 0 < β < 1 the limit is {lim}, not 1", evidence=ev)
    if bad_ends:
        return Verdict(
            "holds-if",
            "the correction factor tends to 1 for β < 1 (slowly for β₂ = 0.999: still 1.58 at "
            "t = 1000); the note's range includes β = 1",
            condition=f"β < 1 (the note writes {NOTE_000_BETA})",
            outside="β = 1: 1 − βᵗ = 0 for every t, the correction divides by zero (zoo)",
            evidence=ev,
        )
    return Verdict(
        "holds",
        f"the correction factor tends to 1 for every β with {premise} "
        "(slowly for β₂ = 0.999: still 1.58 at t = 1000)",
        evidence=ev,
    )


#: note 003 line 278: "β 通常取 0.9，这表示相对过往所有历史时刻的参数，模型更关注最近的10次参数"
#: (β = 0.9 means the model pays more attention to the last 10 steps than to all earlier ones)
NOTE_003_WINDOW = "relative to all earlier steps, the model attends more to the last 10"


def check_window(ctx: Context) -> Verdict:
    r"""N003.ema.window (note 003 lines 276-278): with β = 0.9 the average "attends more to the
    last 10 steps than to all earlier ones" (the note's wording, line 278).

    Decided as the note says it: the last :math:`n = 10` weights carry more of the total than
    all earlier ones, :math:`1-\beta^{n} > \beta^{n}`; and :math:`n = 1/(1-\beta)`.
    Inputs: ``beta`` (9/10) and ``window`` (10).
    """
    b = sp.nsimplify(ctx.given("beta", sp.Rational(9, 10)))
    nwin = int(ctx.given("window", 10))
    window = 1 / (1 - b)
    share = 1 - b**nwin
    need90 = math.ceil(math.log(0.1) / math.log(float(b)))
    need50 = math.ceil(math.log(0.5) / math.log(float(b)))
    ev = (
        text("the note", f"note 003 line 278: {NOTE_003_WINDOW} (β = 0.9)"),
        symbolic("1/(1 − β)", sp.Eq(sp.Symbol("n"), window)),
        table(
            f"share of the total weight held by the last n steps (β = {b})",
            ("n", f"1 − {b}ⁿ"),
            [(k, f"{float(1 - b**k):.4f}") for k in sorted({need50, nwin, need90, 44})],
        ),
        text(
            "reading",
            f"weight at lag {nwin} relative to lag 0: {b}^{nwin} = {float(b**nwin):.4f} "
            f"(e⁻¹ = {math.exp(-1):.4f}); 90 % of the weight takes {need90} steps",
        ),
    )
    if window == nwin and share > 1 - share:
        return Verdict(
            "holds",
            f"1/(1−β) = {window}, and the last {nwin} steps hold {float(share):.1%} of the "
            f"weight against {float(1 - share):.1%} for all earlier ones",
            evidence=ev,
        )
    why = []
    if window != nwin:
        why.append(f"1/(1−β) = {window}, not {nwin}")
    if not share > 1 - share:
        why.append(f"the last {nwin} steps hold only {float(share):.1%} of the weight")
    return Verdict("fails", "; ".join(why), evidence=ev)


def check_e(ctx: Context) -> Verdict:
    r"""N004.ema.e (note 004 lines 674-690): :math:`\beta^{1/(1-\beta)}\to e^{-1}` as
    :math:`\beta\to1^-`, and :math:`0.95^{20}\approx e^{-1}`.
    """
    base, power = ctx.given("example", (0.95, 20))
    lim = sp.limit(beta ** (1 / (1 - beta)), beta, 1, dir="-")
    v = base**power
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
            f"the limit is e⁻¹ exactly; {base}^{power} = {v:.4f} is {rel:.1%} "
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
