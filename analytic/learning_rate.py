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

from analytic._common import is_zero, symbolic, table
from analytic.verdict import Context, Evidence, Verdict

__all__ = [
    "CHECKS",
    "gd_interval",
    "iteration_matrix",
    "momentum_interval",
    "spectral_radius",
    "stability_grid",
]

lr = sp.Symbol("eta", positive=True)
x0 = sp.Symbol("x_0", real=True, nonzero=True)
z = sp.Symbol("z")

#: Hessian eigenvalues: y = 4x² (note 003) and f = 0.1x₁² + 2x₂² (note 004)
H_003 = (sp.Integer(8),)
H_004 = (sp.Rational(1, 5), sp.Integer(4))


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
    """
    x1 = x0 - lr * sp.diff(4 * x0**2, x0)
    sol = sp.solve(sp.Eq(x1, 0), lr)
    ok = sol == [sp.Rational(1, 8)] and is_zero(x1.subs(lr, sp.Rational(1, 8)))
    ev = (
        symbolic("one GD step", sp.Eq(sp.Symbol("x_1"), sp.factor(x1))),
        symbolic("solve x₁ = 0 for η", sp.Eq(lr, sol[0])),
    )
    return Verdict(
        "holds" if ok else "fails",
        "η = 1/8 is the unique learning rate that reaches 0 in one step, for any x₀"
        if ok
        else f"solutions {sol}",
        evidence=ev,
    )


def _classify(factor: sp.Expr) -> str:
    a = sp.Abs(factor)
    if factor == 0:
        return "exact in one step"
    if a < 1:
        return "converges, monotone" if factor > 0 else "converges, oscillating in sign"
    if a == 1:
        return "oscillates forever (±x₀)"
    return "diverges" + (", oscillating in sign" if factor < 0 else "")


def check_range(ctx: Context) -> Verdict:
    r"""N003.lr.range (note 003 lines 81-94, 136): on :math:`y=4x^2`, :math:`x_{t}=(1-8\eta)^t x_0`.

    Converges iff :math:`0<\eta<1/4`; monotone for :math:`\eta\le1/8`, sign-oscillating for
    :math:`1/8<\eta<1/4`, a 2-cycle at :math:`\eta=1/4`, divergent above.
    """
    interval = gd_interval(H_003)
    rows = []
    for eta in ("1", "1/2", "1/5", "1/8", "1/10"):
        e = sp.Rational(eta)
        f = 1 - 8 * e
        rows.append((eta if "/" not in eta else f"{eta} = {float(e):g}", str(f), _classify(f)))
    ev = (
        symbolic("convergent learning rates", interval),
        table("the note's learning rates", ("lr", "factor 1 − 8·lr", "behaviour"), rows),
    )
    ok = interval == sp.Interval.open(0, sp.Rational(1, 4))
    return Verdict(
        "holds-if",
        (
            "lr 1 and 0.5 diverge (factors −7, −3), 0.2 converges while oscillating "
            "(−0.6), 0.125 is exact in one step, 0.1 converges monotonically "
            "(0.2)"
        ),
        condition=f"0 < lr < 1/4 (exact interval {interval}); monotone only for lr ≤ 1/8"
        if ok
        else str(interval),
        evidence=ev,
    )


def check_cond(ctx: Context) -> Verdict:
    """N004.cond (note 004 lines 506-526): the Hessian of 0.1x₁² + 2x₂² is diag(0.2, 4); κ = 20."""
    a, b = sp.symbols("x1 x2", real=True)
    f = sp.Rational(1, 10) * a**2 + 2 * b**2
    hess = sp.hessian(f, (a, b))
    eig = sorted(hess.eigenvals())
    kappa = max(eig) / min(eig)
    ok = eig == [sp.Rational(1, 5), 4] and kappa == 20
    ev = (
        symbolic("Hessian", hess),
        symbolic("eigenvalues", sp.FiniteSet(*eig)),
        symbolic("condition number", sp.Eq(sp.Symbol("kappa"), kappa)),
    )
    return Verdict(
        "holds" if ok else "fails",
        f"eigenvalues {eig[0]}, {eig[1]}; condition number {kappa}",
        evidence=ev,
    )


def check_gd_maxlr(ctx: Context) -> Verdict:
    r"""N004.gd.maxlr (note 004 lines 530-532, 571-581): the note leaves the bound blank.

    :math:`x_i \leftarrow (1-\eta\lambda_i)x_i` with :math:`\lambda = 0.2, 4`: converges iff
    :math:`0<\eta<2/\lambda_{max}=1/2`. At 0.4 the x₂ factor is −0.6; at 0.6 it is −1.4
    (:math:`(-1.4)^{20}\cdot 2 \approx 1673`, the printed divergence).
    """
    interval = gd_interval(H_004)
    rows = [
        (
            str(e),
            str(1 - e * sp.Rational(1, 5)),
            str(1 - 4 * e),
            "converges" if e in interval else "does not converge",
        )
        for e in (sp.Rational(2, 5), sp.Rational(1, 2), sp.Rational(3, 5))
    ]
    ev = (
        symbolic("convergent η", interval),
        table("per-coordinate factors", ("η", "x₁ factor", "x₂ factor", "GD"), rows),
    )
    ok = interval == sp.Interval.open(0, sp.Rational(1, 2))
    return Verdict(
        "holds-if",
        (
            "largest step size is the supremum 1/2 = 2/λ_max (not attained: "
            "at η = 1/2, x₂ flips sign forever); 0.4 converges, 0.6 diverges"
        ),
        condition=f"0 < η < 1/2 (exact set {interval})" if ok else str(interval),
        evidence=ev,
    )


def check_mom_maxlr(ctx: Context) -> Verdict:
    r"""N004.mom.maxlr (note 004 lines 636-644): heavy ball with β = 1/2 on f is stable iff
    :math:`0<\eta<2(1+\beta)/\lambda_{max} = 3/4`, against :math:`1/2` without momentum.
    """
    beta = sp.Rational(1, 2)
    with_m = momentum_interval(H_004, beta)
    without = gd_interval(H_004)
    bsym = sp.Symbol("beta", nonnegative=True)
    general = momentum_interval((sp.Integer(4),), bsym)
    radius = [
        (
            e,
            f"{spectral_radius(e, 0.5, [0.2, 4.0]):.4f}",
            f"{spectral_radius(e, 0.0, [0.2, 4.0]):.4f}",
        )
        for e in (0.4, 0.6, 0.74, 0.76)
    ]
    ev = (
        symbolic("stable η with β = 1/2", with_m),
        symbolic("stable η without momentum", without),
        symbolic("stable η for general 0 ≤ β < 1 (λ_max = 4)", general),
        table(
            "spectral radius of the iteration (max over both coordinates)",
            ("η", "β = 0.5", "β = 0"),
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
            "stable (η, β) region for heavy ball on 0.1x₁² + 2x₂²: colour = per-step contraction",
        ),
    )
    ok = with_m == sp.Interval.open(0, sp.Rational(3, 4)) and without == sp.Interval.open(
        0, sp.Rational(1, 2)
    )
    return Verdict(
        "holds" if ok else "fails",
        (
            "with β = 0.5 the stable range grows from η < 1/2 to η < 3/4 "
            "= 2(1+β)/λ_max, so η = 0.6 now converges"
        )
        if ok
        else f"{with_m} vs {without}",
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
