r"""Momentum (notes 000, 003, 004).

The notes' velocity :math:`v_t = \gamma v_{t-1} + \eta g_t`, :math:`v_0 = 0`, under a
constant gradient is :math:`v_n = \eta g\,(1-\gamma^n)/(1-\gamma)`; PyTorch's
:math:`v_t = m v_{t-1} + g_t`, :math:`w \leftarrow w - \eta v_t` unrolls to
:math:`v_t = \sum_k m^k g_{t-k}`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import sympy as sp
import torch

from analytic._common import is_zero, symbolic, table
from analytic.learning_rate import region_figure, spectral_radius
from analytic.verdict import Context, Verdict

__all__ = ["CHECKS", "velocity"]

gamma = sp.Symbol("gamma", positive=True)
eta = sp.Symbol("eta", positive=True)
g = sp.Symbol("g", real=True)
n = sp.Symbol("n", integer=True, positive=True)
u = sp.Symbol("u", positive=True)  # gamma = 1/(1+u) parametrises 0 < gamma < 1


def velocity(steps: int, gam: sp.Expr = gamma) -> list[sp.Expr]:
    """v_0..v_steps of the notes' recursion v ← γv + ηg under a constant gradient."""
    v: list[sp.Expr] = [sp.Integer(0)]
    for _ in range(steps):
        v.append(sp.expand(gam * v[-1] + eta * g))
    return v


def check_partial(ctx: Context) -> Verdict:
    """N000.mom.partial (note 000 lines 240-254): v₁ = ηg, v₂ = (1+γ)ηg, v₃ = (1+γ+γ²)ηg."""
    v = velocity(3)
    claimed = [eta * g, (1 + gamma) * eta * g, (1 + gamma + gamma**2) * eta * g]
    diffs = [sp.expand(v[k + 1] - claimed[k]) for k in range(3)]
    ok = all(is_zero(d) for d in diffs)
    ev = tuple(
        symbolic(f"v_{k + 1} − note", sp.Eq(sp.Symbol(f"v_{k + 1}") - claimed[k], diffs[k]))
        for k in range(3)
    )
    return Verdict(
        "holds" if ok else "fails",
        "the three velocities match the recursion exactly" if ok else "a velocity differs",
        evidence=ev,
    )


def check_steady(ctx: Context) -> Verdict:
    r"""N000.mom.steady (note 000 line 255): :math:`v_n = \eta g(1-\gamma^n)/(1-\gamma) \to \eta
    g/(1-\gamma)`.

    The limit exists iff :math:`|\gamma|<1` (the note: γ positive and below 1); for
    :math:`\gamma = 1` the velocity grows like :math:`n\eta g`.
    """
    closed = (
        eta
        * g
        * sp.summation(
            gamma ** sp.Symbol("k", integer=True, nonnegative=True),
            (sp.Symbol("k", integer=True, nonnegative=True), 0, n - 1),
        )
    )
    closed_c = sp.simplify(closed.subs(gamma, 1 / (1 + u)))
    lim = sp.simplify(sp.limit(closed_c, n, sp.oo))
    target = sp.simplify((eta * g / (1 - gamma)).subs(gamma, 1 / (1 + u)))
    recursion_ok = all(
        is_zero(velocity(k)[-1] - eta * g * (1 - gamma**k) / (1 - gamma)) for k in (1, 2, 5)
    )
    at_one = sp.simplify(closed.subs(gamma, 1))
    ok = is_zero(lim - target) and recursion_ok
    ev = (
        symbolic(
            "closed form after n steps",
            sp.Eq(sp.Symbol("v_n"), eta * g * (1 - gamma**n) / (1 - gamma)),
        ),
        symbolic(
            "limit for 0 < γ < 1 (γ = 1/(1+u))",
            sp.Eq(sp.Limit(sp.Symbol("v_n"), n, sp.oo), sp.simplify(lim.subs(u, 1 / gamma - 1))),
        ),
        symbolic(
            "γ = 1: velocity after n steps",
            sp.Eq(sp.Symbol("v_n"), sp.simplify(closed.subs(gamma, 1))),
        ),
    )
    return Verdict(
        "holds-if" if ok else "fails",
        "v_n = ηg(1−γⁿ)/(1−γ) → ηg/(1−γ)" if ok else f"limit {lim}",
        condition=(
            f"0 ≤ γ < 1 (as the note requires); at γ = 1 the velocity is v_n = {at_one}, unbounded"
        ),
        evidence=ev,
    )


def check_tenfold(ctx: Context) -> Verdict:
    r"""N000.mom.tenfold (note 000 line 258): with γ = 9/10, :math:`\eta g/(1-\gamma) = 10\eta g`.

    10ηg is the supremum, approached but never reached: :math:`v_n = 10\eta g(1-0.9^n)`.
    """
    peak = sp.simplify((eta * g / (1 - gamma)).subs(gamma, sp.Rational(9, 10)))
    ok = is_zero(peak - 10 * eta * g)
    n90 = math.ceil(math.log(0.1) / math.log(0.9))
    ev = (
        symbolic("steady state at γ = 9/10", sp.Eq(sp.Symbol("v_oo"), peak)),
        table(
            "fraction of the peak reached after n steps: 1 − 0.9ⁿ",
            ("n", "v_n / (10ηg)"),
            [(k, f"{1 - 0.9**k:.4f}") for k in (1, 5, 10, n90, 50)],
        ),
    )
    return Verdict(
        "holds" if ok else "fails",
        f"the peak is 10ηg as a limit (never attained; 90 % of it after {n90} steps)",
        evidence=ev,
    )


def check_expand(ctx: Context) -> Verdict:
    """N003.mom.expand (note 003 lines 297-306): unroll v_i = m v_{i−1} + g_i three times."""
    m = sp.Symbol("m", real=True)
    g100, g99, g98, v97 = sp.symbols("g_100 g_99 g_98 v_97", real=True)
    v98 = m * v97 + g98
    v99 = m * v98 + g99
    v100 = m * v99 + g100
    claimed = g100 + m * g99 + m**2 * g98 + m**3 * v97
    d = sp.expand(v100 - claimed)
    ok = is_zero(d)
    return Verdict(
        "holds" if ok else "fails",
        "three unrolls of PyTorch's recursion give exactly the note's expansion"
        if ok
        else "expansion differs",
        evidence=(
            symbolic("v₁₀₀ − note's expansion", d),
            symbolic("v₁₀₀ unrolled", sp.Eq(sp.Symbol("v_100"), sp.expand(v100))),
        ),
    )


def _torch_sgd(lr: float, mom: float, steps: int = 100) -> list[float]:
    """The note's experiment (003 lines 309-341): torch SGD on 4x² from x = 2; x after each step."""
    x = torch.tensor([2.0], requires_grad=True)
    opt = torch.optim.SGD([x], lr=lr, momentum=mom)
    xs = []
    for _ in range(steps):
        y = torch.pow(2 * x, 2)
        y.backward()
        opt.step()
        opt.zero_grad()
        xs.append(x.item())
    return xs


def check_oscillate(ctx: Context) -> Verdict:
    r"""N003.mom.oscillate (note 003 lines 309-379), on 4x² (curvature 8) with torch SGD.

    Per-step contraction = spectral radius of the heavy-ball matrix. lr 0.01: no momentum 0.92;
    m = 0.9 gives complex eigenvalues of modulus √0.9 ≈ 0.949 (oscillation, slow);
    m = 0.63 gives modulus √0.63 ≈ 0.794 (still complex, so it still overshoots, but decays
    faster); lr 0.03 without momentum 0.76. The critically damped momentum is
    :math:`(1-\sqrt{8\cdot0.01})^2 \approx 0.514`.
    """
    cases = [(0.01, 0.0), (0.01, 0.9), (0.01, 0.63), (0.03, 0.0)]
    rows = []
    rates = {}
    for lr_, m_ in cases:
        xs = _torch_sgd(lr_, m_)
        rho = spectral_radius(lr_, m_, [8.0])
        disc = (1 + m_ - 8 * lr_) ** 2 - 4 * m_
        sign_changes = sum(1 for a, b in itertools.pairwise(xs) if a * b < 0)
        rates[(lr_, m_)] = rho
        rows.append(
            (
                lr_,
                m_,
                f"{rho:.4f}",
                "complex" if disc < 0 else "real",
                sign_changes,
                f"{abs(xs[-1]):.2e}",
            )
        )
    m_crit = (1 - math.sqrt(8 * 0.01)) ** 2
    ok = (
        rates[(0.01, 0.9)] > rates[(0.01, 0.0)] > rates[(0.03, 0.0)]
        and rates[(0.01, 0.63)] < rates[(0.01, 0.9)]
        and rows[1][4] > 0
    )
    ev = (
        table(
            "torch.optim.SGD on 4x² from x = 2, 100 steps",
            (
                "lr",
                "momentum",
                "contraction per step",
                "eigenvalues",
                "sign changes of x",
                "|x₁₀₀|",
            ),
            rows,
        ),
        symbolic(
            "critically damped momentum at lr = 0.01",
            sp.Eq(sp.Symbol("m_crit"), (1 - sp.sqrt(sp.Rational(8, 100))) ** 2),
            text=f"m_crit = {m_crit:.4f}, contraction {spectral_radius(0.01, m_crit, [8.0]):.4f}",
        ),
        region_figure(
            "stable_region_4x2",
            [8.0],
            0.3,
            [
                (0.01, 0.9, "lr 0.01, m 0.9"),
                (0.01, 0.63, "lr 0.01, m 0.63"),
                (0.03, 0.0, "lr 0.03, m 0"),
                (0.125, 0.0, "lr 0.125 (one step)"),
            ],
            "stable (lr, momentum) region for SGD on 4x²: colour = per-step contraction",
        ),
    )
    return Verdict(
        "holds" if ok else "fails",
        (
            "m = 0.9 oscillates (complex eigenvalues, contraction 0.949); "
            "m = 0.63 converges faster (0.794) though it still overshoots; "
            "lr 0.03 (0.76) beats lr 0.01 (0.92)"
        )
        if ok
        else "the contraction rates do not order as the note says",
        evidence=ev,
    )


def check_versions(ctx: Context) -> Verdict:
    r"""N004.mom.versions (note 004 lines 588-616, 696-716).

    Version A: :math:`m_t=\beta m_{t-1}+\eta_t g_t,\ x_t=x_{t-1}-m_t`. Version B:
    :math:`\tilde m_t=\beta\tilde m_{t-1}+(1-\beta)g_t,\ x_t=x_{t-1}-\alpha_t\tilde m_t`,
    :math:`\alpha_t=\eta_t/(1-\beta)`. With :math:`m_t = \alpha_t\tilde m_t`,
    :math:`m_t=\beta(\alpha_t/\alpha_{t-1})m_{t-1}+\eta_t g_t`: the two agree for every
    gradient sequence iff :math:`\eta_t=\eta_{t-1}` (constant learning rate).
    """
    b = sp.Symbol("beta", positive=True)
    e1, e2, e3 = sp.symbols("eta_1 eta_2 eta_3", positive=True)
    g1, g2, g3 = sp.symbols("g_1 g_2 g_3", real=True)
    etas, gs = (e1, e2, e3), (g1, g2, g3)
    xa = xb = sp.Integer(0)
    ma = mb = sp.Integer(0)
    diffs = []
    for k in range(3):
        ma = b * ma + etas[k] * gs[k]
        xa = xa - ma
        mb = b * mb + (1 - b) * gs[k]
        xb = xb - etas[k] / (1 - b) * mb
        diffs.append(sp.factor(sp.simplify(xa - xb)))
    const = all(is_zero(d.subs({e2: e1, e3: e1})) for d in diffs)
    coeff = sp.factor(diffs[1].coeff(g1))
    sol = sp.solve(sp.Eq(coeff, 0), e2)
    ev = (
        symbolic("x₂ (version A) − x₂ (version B)", diffs[1]),
        symbolic("x₃ difference", diffs[2]),
        symbolic("η₂ that makes step 2 agree for every g₁", sp.Eq(e2, sol[0] if sol else sp.nan)),
        table(
            "schedule",
            ("η schedule", "versions agree"),
            (
                ("constant η", const),
                (
                    "η₂ ≠ η₁ (e.g. a step decay)",
                    is_zero(diffs[1].subs({e1: 1, e2: sp.Rational(1, 10), b: sp.Rational(1, 2)})),
                ),
            ),
        ),
    )
    if const and sol == [e1]:
        return Verdict(
            "holds-if",
            (
                "identical trajectories for a constant learning rate; after a "
                "change of η, version B rescales the whole accumulated velocity"
            ),
            condition="η_t constant (η_t = η_{t−1} for every t ≥ 2)",
            evidence=ev,
        )
    return Verdict("fails", "the versions differ even for constant η", evidence=ev)


def check_lr5(ctx: Context) -> Verdict:
    r"""N004.mom.lr5 (note 004 line 777): steady-state step :math:`\eta g/(1-\beta)`: β = 0.9 gives
    :math:`10\eta g`, β = 0.5 gives :math:`2\eta g` (ratio 5); lr/5 with β = 0.9 gives
    :math:`2\eta g`.

    Only in the steady state of a constant gradient: the first step is ηg either way (and
    ηg/5 after the lr cut), and the momentum-0.9 transient is longer.
    """
    ss = lambda bb, e: sp.simplify(e * g / (1 - bb))  # noqa: E731
    r = sp.simplify(ss(sp.Rational(9, 10), eta) / ss(sp.Rational(1, 2), eta))
    comp = sp.simplify(ss(sp.Rational(9, 10), eta / 5) - ss(sp.Rational(1, 2), eta))
    first = [
        velocity(1, sp.Rational(9, 10))[1].subs(eta, eta / 5),
        velocity(1, sp.Rational(1, 2))[1],
    ]
    ok = r == 5 and is_zero(comp)
    ev = (
        symbolic("steady-state ratio β=0.9 : β=0.5", sp.Eq(sp.Symbol("ratio"), r)),
        symbolic("steady state with lr/5 and β = 0.9 minus lr with β = 0.5", comp),
        table(
            "first step",
            ("setting", "v₁"),
            (("β = 0.9, lr/5", str(first[0])), ("β = 0.5, lr", str(first[1]))),
        ),
    )
    return Verdict(
        "holds-if" if ok else "fails",
        "ratio 5 exactly in the steady state; lr/5 makes the steady-state steps equal",
        condition=(
            "steady state under a (nearly) constant gradient; in the first steps lr/5 moves 5× less"
        ),
        evidence=ev,
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N000.mom.partial": check_partial,
    "N000.mom.steady": check_steady,
    "N000.mom.tenfold": check_tenfold,
    "N003.mom.expand": check_expand,
    "N003.mom.oscillate": check_oscillate,
    "N004.mom.versions": check_versions,
    "N004.mom.lr5": check_lr5,
}
