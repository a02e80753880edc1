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

from optverify.analytic._common import is_zero, symbolic, table, text
from optverify.analytic.learning_rate import region_figure, spectral_radius
from optverify.analytic.verdict import Context, Verdict

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


#: note 000 line 233: γ "是动量参数，是一个小于 1的正数" (a positive number below 1)
NOTE_000_GAMMA = (
    "0 < γ < 1 (note 000 line 233: γ is the momentum parameter, a positive number below 1)"
)


def check_partial(ctx: Context) -> Verdict:
    """N000.mom.partial (note 000 lines 240-254): v₁ = ηg, v₂ = (1+γ)ηg, v₃ = (1+γ+γ²)ηg.

    Input ``claimed``: the note's three velocities.
    """
    v = velocity(3)
    claimed = ctx.given(
        "claimed", [eta * g, (1 + gamma) * eta * g, (1 + gamma + gamma**2) * eta * g]
    )
    diffs = [sp.expand(v[k + 1] - claimed[k]) for k in range(3)]
    ok = all(is_zero(d) for d in diffs)
    ev = tuple(
        symbolic(f"v_{k + 1} − note", sp.Eq(sp.Symbol(f"v_{k + 1}") - claimed[k], diffs[k]))
        for k in range(3)
    )
    bad = [k + 1 for k in range(3) if not is_zero(diffs[k])]
    return Verdict(
        "holds" if ok else "fails",
        "the three velocities match the recursion exactly"
        if ok
        else f"v_{bad[0]} differs from the recursion by {diffs[bad[0] - 1]}",
        evidence=ev,
    )


def check_steady(ctx: Context) -> Verdict:
    r"""N000.mom.steady (note 000 line 255): :math:`v_n = \eta g(1-\gamma^n)/(1-\gamma) \to \eta
    g/(1-\gamma)`.

    The note states the premise (line 233): γ is a positive number below 1; the limit is
    proved there by writing :math:`\gamma = 1/(1+u)`, :math:`u>0`. Input ``gamma_range``:
    ``"note"`` (0 < γ < 1) or ``"up to 1"`` (a premise that admits γ = 1, where
    :math:`v_n = n\eta g` is unbounded).
    """
    k = sp.Symbol("k", integer=True, nonnegative=True)
    closed = eta * g * sp.summation(gamma**k, (k, 0, n - 1))
    closed_c = sp.simplify(closed.subs(gamma, 1 / (1 + u)))
    lim = sp.simplify(sp.limit(closed_c, n, sp.oo))
    target = sp.simplify((eta * g / (1 - gamma)).subs(gamma, 1 / (1 + u)))
    recursion_ok = all(
        is_zero(velocity(j)[-1] - eta * g * (1 - gamma**j) / (1 - gamma)) for j in (1, 2, 5)
    )
    at_one = sp.simplify(closed.subs(gamma, 1))
    lim_one = sp.limit(at_one.subs({eta: 1, g: 1}), n, sp.oo)
    premise = ctx.given("gamma_range", "note")
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
            "γ = 1 (outside the note's premise): velocity after n steps",
            sp.Eq(sp.Symbol("v_n"), at_one),
        ),
        text("premise", NOTE_000_GAMMA),
    )
    proved = is_zero(lim - target) and recursion_ok
    if not proved:
        return Verdict("fails", f"the limit is {lim}, not ηg/(1−γ)", evidence=ev)
    if premise != "note" and lim_one != 1:
        return Verdict(
            "holds-if",
            "v_n → ηg/(1−γ) for γ < 1 only",
            condition="γ < 1",
            outside=f"γ = 1: v_n = {at_one}, which tends to {lim_one}",
            evidence=ev,
        )
    return Verdict(
        "holds",
        "v_n = ηg(1−γⁿ)/(1−γ) → ηg/(1−γ) for every γ the note allows (0 < γ < 1, line 233)",
        evidence=ev,
    )


def check_tenfold(ctx: Context) -> Verdict:
    r"""N000.mom.tenfold (note 000 line 258): with γ = 9/10, :math:`\eta g/(1-\gamma) = 10\eta g`.

    10ηg is the supremum, approached but never reached: :math:`v_n = 10\eta g(1-0.9^n)`.
    Inputs: ``gamma`` (9/10), ``factor`` (10, the note's multiple).
    """
    gam = sp.nsimplify(ctx.given("gamma", sp.Rational(9, 10)))
    factor = sp.nsimplify(ctx.given("factor", 10))
    peak = sp.simplify((eta * g / (1 - gamma)).subs(gamma, gam))
    ok = is_zero(peak - factor * eta * g)
    n90 = math.ceil(math.log(0.1) / math.log(float(gam)))
    ev = (
        symbolic(f"steady state at γ = {gam}", sp.Eq(sp.Symbol("v_oo"), peak)),
        table(
            f"fraction of the peak reached after n steps: 1 − {gam}ⁿ",
            ("n", "v_n / v_∞"),
            [(j, f"{1 - float(gam) ** j:.4f}") for j in (1, 5, 10, n90, 50)],
        ),
    )
    return Verdict(
        "holds" if ok else "fails",
        f"the peak is {peak} = {factor}ηg as a limit (never attained; 90 % of it after {n90} steps)"
        if ok
        else f"the peak is {peak}, not {factor}ηg",
        evidence=ev,
    )


def check_expand(ctx: Context) -> Verdict:
    """N003.mom.expand (note 003 lines 297-306): unroll v_i = m v_{i−1} + g_i three times.

    Input ``claimed``: the note's expansion as a function of (m, g₁₀₀, g₉₉, g₉₈, v₉₇).
    """
    m = sp.Symbol("m", real=True)
    g100, g99, g98, v97 = sp.symbols("g_100 g_99 g_98 v_97", real=True)
    v98 = m * v97 + g98
    v99 = m * v98 + g99
    v100 = m * v99 + g100
    claimed = ctx.given("claimed", lambda m, a, b, c, v: a + m * b + m**2 * c + m**3 * v)(
        m, g100, g99, g98, v97
    )
    d = sp.expand(v100 - claimed)
    ok = is_zero(d)
    return Verdict(
        "holds" if ok else "fails",
        "three unrolls of PyTorch's recursion give exactly the note's expansion"
        if ok
        else f"the unrolled recursion minus the note's expansion is {d}, not 0",
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
    m_hi, m_lo = ctx.given("momenta", (0.9, 0.63))
    lr_lo, lr_hi = ctx.given("lrs", (0.01, 0.03))
    cases = [(lr_lo, 0.0), (lr_lo, m_hi), (lr_lo, m_lo), (lr_hi, 0.0)]
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
    parts = {
        f"m = {m_hi} oscillates (x changes sign)": rows[1][4] > 0,
        f"m = {m_lo} converges faster than m = {m_hi}": rates[(lr_lo, m_lo)] < rates[(lr_lo, m_hi)],
        f"lr {lr_hi} without momentum beats lr {lr_lo}": rates[(lr_hi, 0.0)] < rates[(lr_lo, 0.0)],
    }
    ok = all(parts.values())
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
            "N003.mom.oscillate: SGD's contraction per step over (lr, momentum) on 4x²",
        ),
    )
    rate = {k: f"{v:.3f}" for k, v in rates.items()}
    return Verdict(
        "holds" if ok else "fails",
        (
            f"m = {m_hi} oscillates ({rows[1][4]} sign changes, contraction "
            f"{rate[(lr_lo, m_hi)]}); m = {m_lo} converges faster ({rate[(lr_lo, m_lo)]}); "
            f"lr {lr_hi} ({rate[(lr_hi, 0.0)]}) beats lr {lr_lo} ({rate[(lr_lo, 0.0)]})"
        )
        if ok
        else "not as the note says: " + "; ".join(k for k, v in parts.items() if not v),
        evidence=ev,
    )


def check_versions(ctx: Context) -> Verdict:
    r"""N004.mom.versions (note 004 lines 588-616, 696-716).

    Version A: :math:`m_t=\beta m_{t-1}+\eta_t g_t,\ x_t=x_{t-1}-m_t`. Version B ("another
    version"): :math:`\tilde m_t=\beta\tilde m_{t-1}+(1-\beta)g_t,\ x_t=x_{t-1}-\alpha_t\tilde
    m_t`, :math:`\alpha_t=\eta_t/(1-\beta)`. The note writes a schedule :math:`\eta_t`
    (lines 698, 716) and states no condition on it. With :math:`m_t = \alpha_t\tilde m_t`,
    :math:`m_t=\beta(\alpha_t/\alpha_{t-1})m_{t-1}+\eta_t g_t`: the two agree for every
    gradient sequence iff :math:`\eta_t=\eta_{t-1}` (for β > 0).

    Inputs: ``beta`` (symbolic β > 0), ``alpha_scale`` (1/(1−β), the note's α_t = η_t·scale).
    """
    b = ctx.given("beta", sp.Symbol("beta", positive=True))
    e1, e2, e3 = sp.symbols("eta_1 eta_2 eta_3", positive=True)
    g1, g2, g3 = sp.symbols("g_1 g_2 g_3", real=True)
    scale = ctx.given("alpha_scale", 1 / (1 - b))
    etas, gs = (e1, e2, e3), (g1, g2, g3)
    xa = xb = sp.Integer(0)
    ma = mb = sp.Integer(0)
    diffs = []
    for k in range(3):
        ma = b * ma + etas[k] * gs[k]
        xa = xa - ma
        mb = b * mb + (1 - b) * gs[k]
        xb = xb - etas[k] * scale * mb
        diffs.append(sp.factor(sp.simplify(xa - xb)))
    const = all(is_zero(d.subs({e2: e1, e3: e1})) for d in diffs)
    every = all(is_zero(d) for d in diffs)
    outside_value = diffs[1].subs({e1: 1, e2: sp.Rational(1, 10), g1: 1, g2: 0})
    if isinstance(b, sp.Symbol):
        outside_value = outside_value.subs(b, sp.Rational(1, 2))
    ev = (
        symbolic("x₂ (version A) − x₂ (version B)", diffs[1]),
        symbolic("x₃ difference", diffs[2]),
        table(
            "schedule",
            ("η schedule", "versions agree"),
            (
                ("constant η", const),
                ("η₁ = 1, η₂ = 1/10, β = 1/2, g = (1, 0): x₂ difference", str(outside_value)),
            ),
        ),
    )
    if every:
        return Verdict("holds", "the versions agree for every learning-rate schedule",
                       evidence=ev)  # fmt: skip
    if const:
        return Verdict(
            "holds-if",
            (
                "identical trajectories for a constant learning rate; after a change of η, "
                "version B rescales the whole accumulated velocity by η_t/η_{t−1}"
            ),
            condition="η_t constant (η_t = η_{t−1} for every t ≥ 2); the note writes η_t",
            outside=(f"η₁ = 1, η₂ = 1/10 (β = 1/2, g₁ = 1, g₂ = 0): x₂ differs by {outside_value}"),
            evidence=ev,
        )
    return Verdict("fails", "the versions differ even for constant η", evidence=ev)


def check_lr5(ctx: Context) -> Verdict:
    r"""N004.mom.lr5 (note 004 line 777): "intuitively, 10× the minibatch gradient is 5× 2× the
    minibatch gradient, so try lr/5".

    The note's "10×" and "2×" are its own multiples :math:`1/(1-\beta)` of the gradient
    (lines 674-690: the momentum variable is a weighted average over about 1/(1−β) steps,
    times 1/(1−β)), i.e. the steady state :math:`\eta g/(1-\beta)` under a constant gradient.
    Read with that premise: β = 0.9 gives :math:`10\eta g`, β = 0.5 gives :math:`2\eta g`
    (ratio 5), and lr/5 with β = 0.9 gives :math:`2\eta g`. Evidence also shows the first
    step, where the two are not yet at their steady state.

    Inputs: ``betas`` ((9/10, 1/2)) and ``ratio`` (5, the note's factor).
    """
    hi, lo = (sp.nsimplify(v) for v in ctx.given("betas", (sp.Rational(9, 10), sp.Rational(1, 2))))
    claimed = sp.nsimplify(ctx.given("ratio", 5))
    ss = lambda bb, e: sp.simplify(e * g / (1 - bb))  # noqa: E731
    r = sp.simplify(ss(hi, eta) / ss(lo, eta))
    comp = sp.simplify(ss(hi, eta / claimed) - ss(lo, eta))
    first = [velocity(1, hi)[1].subs(eta, eta / claimed), velocity(1, lo)[1]]
    ok = r == claimed and is_zero(comp)
    ev = (
        symbolic(f"steady-state ratio β={hi} : β={lo}", sp.Eq(sp.Symbol("ratio"), r)),
        symbolic(f"steady state with lr/{claimed} and β = {hi} minus lr with β = {lo}", comp),
        table(
            "first step (before the steady state)",
            ("setting", "v₁"),
            ((f"β = {hi}, lr/{claimed}", str(first[0])), (f"β = {lo}, lr", str(first[1]))),
        ),
    )
    return Verdict(
        "holds" if ok else "fails",
        f"the note's multiples 1/(1−β) are {1 / (1 - hi)} and {1 / (1 - lo)}: ratio {r}; "
        + (
            f"lr/{claimed} makes the steady-state steps equal (the first steps differ, table)"
            if ok
            else f"not {claimed}"
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
