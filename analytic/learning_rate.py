r"""Learning-rate stability on quadratics (notes 003 and 004).

Gradient descent on :math:`\tfrac{h}{2}x^2` multiplies :math:`x` by :math:`1-\eta h`; it
converges iff :math:`|1-\eta h|<1`, i.e. :math:`0<\eta<2/h`. Heavy-ball momentum in either
of the notes' forms (:math:`v \leftarrow m v + \eta g,\ x \leftarrow x - v`, or PyTorch's
:math:`v \leftarrow m v + g,\ x \leftarrow x - \eta v`) gives
:math:`x_{t+1} = (1+m-\eta h)x_t - m x_{t-1}`, iteration matrix
:math:`\begin{pmatrix}1+m-\eta h & -m\\ 1 & 0\end{pmatrix}` with characteristic polynomial
:math:`p(z)=z^2-(1+m-\eta h)z+m`. By the Jury criterion both roots lie in the open unit disc
iff :math:`|m|<1`, :math:`p(1)=\eta h>0` and :math:`p(-1)=2+2m-\eta h>0`, i.e.
:math:`0<\eta<2(1+m)/h`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import sympy as sp

from optverify.analytic._common import is_zero, symbolic, table
from optverify.analytic.verdict import Context, Evidence, Verdict

__all__ = [
    "CHECKS",
    "gd_interval",
    "iteration_matrix",
    "momentum_interval",
    "show_set",
    "spectral_radius",
    "stability_grid",
]

lr = sp.Symbol("eta", positive=True)
x0 = sp.Symbol("x_0", real=True, nonzero=True)
z = sp.Symbol("z")

#: Hessian eigenvalues: y = 4x² (note 003) and f = 0.1x₁² + 2x₂² (note 004)
H_003 = (sp.Integer(8),)
H_004 = (sp.Rational(1, 5), sp.Integer(4))


def show_set(interval: sp.Set) -> str:
    """An interval in mathematical notation, e.g. ``(0, 1/4)``."""
    if isinstance(interval, sp.Interval):
        left = "(" if interval.left_open else "["
        right = ")" if interval.right_open else "]"
        return f"{left}{interval.start}, {interval.end}{right}"
    return str(interval)


def iteration_matrix(eta: sp.Expr, m: sp.Expr, h: sp.Expr) -> sp.Matrix:
    """Matrix mapping (x_t, x_{t-1}) to (x_{t+1}, x_t) for heavy ball on curvature h."""
    return sp.Matrix([[1 + m - eta * h, -m], [1, 0]])


def spectral_radius(eta: float, m: float, hs: Sequence[float]) -> float:
    """max over curvatures of the largest |eigenvalue| (float, numpy)."""
    out = 0.0
    for h in hs:
        ev = np.linalg.eigvals(np.array([[1 + m - eta * h, -m], [1.0, 0.0]]))
        out = max(out, float(np.max(np.abs(ev))))
    return out


def stability_grid(hs: Sequence[float], lrs: np.ndarray, ms: np.ndarray) -> np.ndarray:
    """Spectral radius on a (momentum × lr) grid, for the stability-region figures."""
    return np.array([[spectral_radius(float(a), float(b), hs) for a in lrs] for b in ms])


def gd_interval(hs: Sequence[sp.Expr]) -> sp.Set:
    """The exact set of η > 0 with |1 − ηh| < 1 for every curvature h."""
    out: sp.Set = sp.Interval.open(0, sp.oo)
    for h in hs:
        out = out & sp.solve_univariate_inequality(sp.Abs(1 - lr * h) < 1, lr, relational=False)
    return out


def momentum_interval(hs: Sequence[sp.Expr], m: sp.Expr) -> sp.Set:
    """The exact set of η > 0 satisfying the Jury conditions for every curvature (|m| < 1)."""
    out: sp.Set = sp.Interval.open(0, sp.oo)
    for h in hs:
        p = sp.expand(iteration_matrix(lr, m, h).charpoly(z).as_expr())
        for ineq in (p.subs(z, 1) > 0, p.subs(z, -1) > 0):
            if ineq is sp.true:
                continue
            out = out & sp.solve_univariate_inequality(ineq, lr, relational=False)
    return out


def check_onestep(ctx: Context) -> Verdict:
    r"""N003.lr.onestep (note 003 lines 139-149): :math:`x_1 = x_0 - \eta\cdot 8x_0 = (1-8\eta)x_0`
    is 0 for every :math:`x_0\ne0` iff :math:`\eta = 1/8`.

    Inputs: ``curvature`` (8, of y = 4x²) and ``claimed_lr`` (1/8, note 003 line 147).
    """
    h = sp.nsimplify(ctx.given("curvature", 8))
    claimed = sp.nsimplify(ctx.given("claimed_lr", sp.Rational(1, 8)))
    x1 = x0 - lr * h * x0
    sol = sp.solve(sp.Eq(x1, 0), lr)
    ok = sol == [claimed] and is_zero(x1.subs(lr, claimed))
    ev = (
        symbolic("one GD step", sp.Eq(sp.Symbol("x_1"), sp.factor(x1))),
        symbolic("solve x₁ = 0 for η", sp.Eq(lr, sol[0]) if sol else sp.S.EmptySet),
        symbolic("the note's learning rate", sp.Eq(sp.Symbol("lr_note"), claimed)),
    )
    return Verdict(
        "holds" if ok else "fails",
        f"η = {claimed} is the unique learning rate that reaches 0 in one step, for any x₀"
        if ok
        else f"one step reaches 0 only for η in {sol}, not for the note's {claimed}",
        evidence=ev,
    )


def _classify(factor: sp.Expr) -> str:
    a = sp.Abs(factor)
    if factor == 0:
        return "one step to the minimum"
    if a < 1:
        return "converges, monotone" if factor > 0 else "converges, oscillating in sign"
    if a == 1:
        return "oscillates forever (±x₀)"
    return "diverges" + (", oscillating in sign" if factor < 0 else "")


def gd_converges_numerically(eta: float, hs: Sequence[float], steps: int = 4000) -> bool:
    """Run x ← (1 − ηh)x from 1 for every curvature: True when every |x| fell below 1/2
    within ``steps`` steps (a divergent or 2-cycling run never does)."""
    for h in hs:
        x = 1.0
        for _ in range(steps):
            x *= 1 - eta * h
            if abs(x) < 0.5 or abs(x) > 1e6:
                break
        if not abs(x) < 0.5:
            return False
    return True


def interval_mismatches(interval: sp.Set, hs: Sequence[float], top: int) -> list[str]:
    """Learning rates k/200 (k = 1..top) where membership in ``interval`` disagrees with a run."""
    bad = []
    for k in range(1, top + 1):
        e = sp.Rational(k, 200)
        inside = bool(interval.contains(e))
        if inside != gd_converges_numerically(k / 200, hs):
            bad.append(f"{float(e):g} ({'in' if inside else 'not in'} the interval)")
    return bad


#: note 003: what the text and figure 1 (line 136) show for each learning rate
NOTE_003_SHOWN = {
    "1": "diverges",
    "1/5": "converges",
    "1/8": "one step to the minimum",
}


def check_range(ctx: Context) -> Verdict:
    r"""N003.lr.range (note 003 lines 81-94, 136): on :math:`y=4x^2`, :math:`x_{t}=(1-8\eta)^t x_0`.

    Converges iff :math:`0<\eta<1/4`; monotone for :math:`\eta\le1/8`, sign-oscillating for
    :math:`1/8<\eta<1/4`, a 2-cycle at :math:`\eta=1/4`, divergent above. The interval is
    derived with sympy and then verified by running GD at every lr k/200 up to 1; the
    behaviour the note shows (figure 1: lr 1, 0.2, 0.125) is compared with the computed one.

    Inputs: ``curvature`` (8), ``interval`` (default: the derived one), ``shown`` (what the
    note shows, :data:`NOTE_003_SHOWN`).
    """
    h = sp.nsimplify(ctx.given("curvature", 8))
    interval = ctx.given("interval", gd_interval((h,)))
    shown = ctx.given("shown", NOTE_003_SHOWN)
    rows = []
    contradicted = []
    for eta in ("1", "1/2", "1/5", "1/8", "1/10"):
        e = sp.Rational(eta)
        f = 1 - h * e
        behaviour = _classify(f)
        note = shown.get(eta, "not shown")
        agrees = note == "not shown" or behaviour.startswith(note)
        if not agrees:
            contradicted.append(f"lr {eta}: note shows '{note}', computed '{behaviour}'")
        rows.append((f"{eta} = {float(e):g}", str(f), behaviour, note, agrees))
    bad = interval_mismatches(interval, [float(h)], 200)
    ev = (
        symbolic("convergent learning rates (sympy)", interval),
        table(
            "the note's learning rates",
            ("lr", f"factor 1 − {h}·lr", "computed behaviour", "the note shows", "agree"),
            rows,
        ),
        table(
            "the interval against GD runs at lr = k/200, k = 1..200",
            ("learning rates where membership and run disagree",),
            [(b,) for b in bad] or [("none",)],
        ),
    )
    if contradicted or bad:
        return Verdict(
            "fails",
            "; ".join(
                contradicted + ([f"interval {interval} contradicted at lr {bad[0]}"] if bad else [])
            ),
            evidence=ev,
        )
    return Verdict(
        "holds",
        f"convergent lr: exactly {show_set(interval)} (checked by runs); "
        + "; ".join(f"lr {r[0].split(' = ')[1]}: {r[2]} (factor {r[1]})" for r in rows)
        + "; the note's figure agrees",
        evidence=ev,
    )


def check_cond(ctx: Context) -> Verdict:
    """N004.cond (note 004 lines 506-526): the Hessian of 0.1x₁² + 2x₂² is diag(0.2, 4); κ = 20.

    Inputs: ``coefficients`` (1/10, 2) of f and ``claimed`` ((1/5, 4), 20) of the note.
    """
    c1, c2 = (sp.nsimplify(c) for c in ctx.given("coefficients", (sp.Rational(1, 10), 2)))
    claimed_eig, claimed_kappa = ctx.given("claimed", ((sp.Rational(1, 5), 4), 20))
    a, b = sp.symbols("x1 x2", real=True)
    f = c1 * a**2 + c2 * b**2
    hess = sp.hessian(f, (a, b))
    eig = sorted(hess.eigenvals())
    kappa = max(eig) / min(eig)
    ok = eig == sorted(sp.nsimplify(e) for e in claimed_eig) and kappa == claimed_kappa
    ev = (
        symbolic("Hessian", hess),
        symbolic("eigenvalues", sp.FiniteSet(*eig)),
        symbolic("condition number", sp.Eq(sp.Symbol("kappa"), kappa)),
    )
    return Verdict(
        "holds" if ok else "fails",
        f"eigenvalues {eig[0]}, {eig[1]}; condition number {kappa}"
        + ("" if ok else f" (the note: {claimed_eig}, {claimed_kappa})"),
        evidence=ev,
    )


def check_gd_maxlr(ctx: Context) -> Verdict:
    r"""N004.gd.maxlr (note 004 lines 530-532, 571-581): the note leaves the bound blank.

    :math:`x_i \leftarrow (1-\eta\lambda_i)x_i` with :math:`\lambda = 0.2, 4`: converges iff
    :math:`0<\eta<2/\lambda_{max}=1/2`. At 0.4 the x₂ factor is −0.6; at 0.6 it is −1.4
    (:math:`(-1.4)^{20}\cdot 2 \approx 1673`, the printed divergence). The interval is
    verified by GD runs at every η = k/200 up to 1.5, and the note's two runs (0.4 converges,
    0.6 diverges, as printed) must fall on the right sides of it.

    Inputs: ``curvatures`` (1/5, 4), ``interval`` (default: the derived one).
    """
    hs = tuple(sp.nsimplify(h) for h in ctx.given("curvatures", H_004))
    interval = ctx.given("interval", gd_interval(hs))
    rows = [
        (
            str(e),
            *(str(1 - e * h) for h in hs),
            "converges" if e in interval else "does not converge",
        )
        for e in (sp.Rational(2, 5), sp.Rational(1, 2), sp.Rational(3, 5))
    ]
    bad = interval_mismatches(interval, [float(h) for h in hs], 300)
    printed = {"0.4": bool(interval.contains(sp.Rational(2, 5))),
               "0.6": bool(interval.contains(sp.Rational(3, 5)))}  # fmt: skip
    as_printed = printed == {"0.4": True, "0.6": False}
    ev = (
        symbolic("convergent η (sympy)", interval),
        table(
            "per-coordinate factors",
            ("η", *(f"x{k + 1} factor" for k in range(len(hs))), "GD"),
            rows,
        ),
        table(
            "the interval against GD runs at η = k/200, k = 1..300",
            ("η where membership and run disagree",),
            [(b,) for b in bad] or [("none",)],
        ),
    )
    if bad or not as_printed:
        why = (
            f"interval {interval} contradicted by runs at η {bad[0]}"
            if bad
            else (
                f"interval {interval} does not separate the note's runs "
                "(0.4 converges, 0.6 diverges)"
            )
        )
        return Verdict("fails", why, evidence=ev)
    sup = interval.sup
    return Verdict(
        "holds",
        (
            f"GD converges exactly for η in {show_set(interval)}: the largest step size is the "
            f"supremum {sup} = 2/λ_max, not attained (at η = {sup} x₂ flips sign forever); "
            "0.4 is inside (x₂ factor −0.6), 0.6 outside (−1.4, hence the printed −1673)"
        ),
        evidence=ev,
    )


def check_mom_maxlr(ctx: Context) -> Verdict:
    r"""N004.mom.maxlr (note 004 lines 636-644): heavy ball with β = 1/2 on f is stable iff
    :math:`0<\eta<2(1+\beta)/\lambda_{max} = 3/4`, against :math:`1/2` without momentum.

    Inputs: ``beta`` (1/2, the note's momentum), ``curvatures`` (1/5, 4).
    """
    beta = sp.nsimplify(ctx.given("beta", sp.Rational(1, 2)))
    hs = tuple(sp.nsimplify(h) for h in ctx.given("curvatures", H_004))
    with_m = momentum_interval(hs, beta)
    without = gd_interval(hs)
    bsym = sp.Symbol("beta", nonnegative=True)
    general = momentum_interval((max(hs),), bsym)
    fh = [float(h) for h in hs]
    radius = [
        (e, f"{spectral_radius(e, float(beta), fh):.4f}", f"{spectral_radius(e, 0.0, fh):.4f}")
        for e in (0.4, 0.6, 0.74, 0.76)
    ]
    # the sympy boundary against the numeric spectral radius just inside and outside it
    edge = float(with_m.sup)
    numeric_ok = (
        spectral_radius(edge * 0.99, float(beta), fh)
        < 1
        < spectral_radius(edge * 1.01, float(beta), fh)
    )
    ev = (
        symbolic(f"stable η with β = {beta}", with_m),
        symbolic("stable η without momentum", without),
        symbolic("stable η for general 0 ≤ β < 1 (λ_max = 4)", general),
        table(
            "spectral radius of the iteration (max over both coordinates)",
            ("η", f"β = {beta}", "β = 0"),
            radius,
        ),
        region_figure(
            "stable_region_004",
            [0.2, 4.0],
            1.2,
            [
                (0.4, 0.0, "GD 0.4"),
                (0.6, 0.0, "GD 0.6"),
                (0.4, 0.5, "mom 0.4"),
                (0.6, 0.5, "mom 0.6"),
            ],
            "N004.mom.maxlr: heavy-ball contraction per step over (η, β) on 0.1x₁² + 2x₂²",
        ),
    )
    ok = numeric_ok and with_m.sup > without.sup
    return Verdict(
        "holds" if ok else "fails",
        (
            f"with β = {beta} the stable range grows from η < {without.sup} to η < {with_m.sup} "
            "= 2(1+β)/λ_max, so η = 0.6 now converges"
        )
        if ok
        else f"with β = {beta} the stable range {show_set(with_m)} is not larger than "
        f"{show_set(without)}",
        evidence=ev,
    )


def region_figure(
    name: str,
    hs: Sequence[float],
    lr_max: float,
    points: Sequence[tuple[float, float, str]],
    title: str,
) -> Evidence:
    """Evidence of kind ``figure``: the stable (lr, momentum) region, drawn by the report."""
    return Evidence(
        kind="figure",
        title=title,
        text=f"{name}.png",
        data={
            "plot": "region",
            "filename": f"{name}.png",
            "curvatures": list(hs),
            "lr_max": lr_max,
            "points": [list(p) for p in points],
        },
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N003.lr.onestep": check_onestep,
    "N003.lr.range": check_range,
    "N004.cond": check_cond,
    "N004.gd.maxlr": check_gd_maxlr,
    "N004.mom.maxlr": check_mom_maxlr,
}
