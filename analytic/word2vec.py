r"""word2vec maths (note 004): subsampling probability and the sigmoid identity.

Discard probability :math:`P(w)=\max(1-\sqrt{t/f(w)},0)` with :math:`f = c/N` (count over
total). The note's code draws :math:`U\sim\mathcal U(0,1)` and discards when
:math:`U<1-\sqrt{10^{-4}/c\cdot N}`, which happens with probability
:math:`\min(\max(1-\sqrt{tN/c},0),1)=P(w)` since the threshold is below 1.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from optverify.analytic._common import is_zero, symbolic, table
from optverify.analytic.verdict import Context, Verdict

__all__ = ["CHECKS"]

x = sp.Symbol("x", real=True)
tt = sp.Symbol("t", positive=True)
f = sp.Symbol("f", positive=True)
c = sp.Symbol("c", positive=True)  # the word's count
N = sp.Symbol("N", positive=True)  # number of tokens


def sigmoid(e: sp.Expr) -> sp.Expr:
    """σ(e) = 1/(1 + exp(−e))."""
    return 1 / (1 + sp.exp(-e))


def check_discard(ctx: Context) -> Verdict:
    r"""N004.w2v.discard (note 004 lines 97-118): :math:`1-\sqrt{t/f}>0 \iff f>t`, and the code's
    threshold :math:`1-\sqrt{10^{-4}/c\cdot N}` equals :math:`1-\sqrt{t/f}` with :math:`f=c/N`.
    """
    p = 1 - sp.sqrt(tt / f)
    positive = sp.solve_univariate_inequality(p > 0, f, relational=False)
    t_code = sp.Rational(1, 10**4)
    # input ``code``: the note's threshold as a function of (count c, tokens N), line 112
    code_threshold = ctx.given("code", lambda c_, n_: 1 - sp.sqrt(t_code / c_ * n_))(c, N)
    formula = p.subs({tt: t_code, f: c / N})
    same = is_zero(code_threshold - formula)
    # P(U < th) for U ~ U(0,1) equals min(max(th, 0), 1); th <= 1 always
    th = sp.Symbol("theta", real=True)
    prob = sp.Min(sp.Max(th, 0), 1)
    agrees = all(
        prob.subs(th, v) == sp.Max(v, 0) for v in (sp.Rational(-1, 2), 0, sp.Rational(3, 10), 1)
    )
    rows = [
        (
            str(fv),
            str(sp.Max(p.subs({tt: t_code, f: fv}), 0)),
            float(sp.Max(p.subs({tt: t_code, f: fv}), 0)),
        )
        for fv in (sp.Rational(1, 10**5), sp.Rational(1, 10**4), sp.Rational(1, 100))
    ]
    ev = (
        symbolic("set of f where 1 − √(t/f) > 0", positive),
        symbolic(
            "code threshold − formula with f = c/N, t = 1e-4", sp.simplify(code_threshold - formula)
        ),
        table("discard probability, t = 1e-4", ("f", "P exact", "P"), rows),
    )
    ok = positive == sp.Interval.open(tt, sp.oo) and same and agrees
    return Verdict(
        "holds" if ok else "fails",
        "P > 0 exactly when f > t, and the code discards with probability max(1 − √(t/f), 0)"
        if ok
        else "the code's threshold differs from 1 − √(t/f): "
        f"{sp.simplify(code_threshold - formula)} ≠ 0",
        evidence=ev,
    )


def check_sigmoid(ctx: Context) -> Verdict:
    """N004.w2v.sigmoid (note 004 line 412): 1 − σ(x) − σ(−x) simplifies to 0.

    Input ``right``: the right-hand side as a function of x (σ(−x)). A non-zero difference is
    confirmed by a numeric counterexample at x = 1 before ``fails`` is returned.
    """
    right = ctx.given("right", lambda e: sigmoid(-e))(x)
    d = 1 - sigmoid(x) - right
    ok = is_zero(sp.together(d))
    at_one = float(d.subs(x, 1))
    return Verdict(
        "holds" if ok else "fails",
        "1 − σ(x) = σ(−x) for every real x"
        if ok
        else f"1 − σ(x) − right side = {at_one:.4g} at x = 1",
        evidence=(symbolic("1 − σ(x) − σ(−x)", sp.simplify(sp.together(d))),),
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N004.w2v.discard": check_discard,
    "N004.w2v.sigmoid": check_sigmoid,
}
