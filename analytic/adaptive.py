r"""Adaptive methods: Adagrad, RMSProp, Adamax, AdaDelta (notes 000, 001, 003, 004).

Adagrad: :math:`s_t = s_{t-1}+g_t^2` so :math:`\eta/\sqrt{s_t+\varepsilon}` never grows.
RMSProp: :math:`s_t-s_{t-1}=(1-\alpha)(g_t^2-s_{t-1})`, which is negative whenever
:math:`g_t^2<s_{t-1}`; with :math:`s_0=0` and :math:`0\le\alpha\le1`,
:math:`s_t=(1-\alpha)\sum\alpha^{t-i}g_i^2\le(1-\alpha^t)\max g^2`.
Adamax: :math:`|\Delta\theta_t|\le
    \eta\,\frac{(1-\beta_1)\sum_{k<t}(\beta_1/\beta_2)^k}{1-\beta_1^t}`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import sympy as sp
import torch

from analytic._common import is_zero, symbolic, table, text
from analytic.verdict import Context, Verdict

__all__ = ["CHECKS", "adamax_step_bound"]

s = sp.Symbol("s", nonnegative=True)
eps = sp.Symbol("epsilon", positive=True)
eta = sp.Symbol("eta", positive=True)
g = sp.Symbol("g", real=True)
alpha = sp.Symbol("alpha", nonnegative=True)
b1, b2 = sp.symbols("beta_1 beta_2", positive=True)
t = sp.Symbol("t", integer=True, positive=True)
k = sp.Symbol("k", integer=True, nonnegative=True)


def check_adagrad_decay(ctx: Context) -> Verdict:
    r"""N000.adagrad.decay (note 000 lines 383-390): the squared ratio of consecutive rates is
    :math:`(s+\varepsilon)/(s+g^2+\varepsilon) \le 1`, strictly below 1 iff :math:`g \ne 0`.
    """
    before = eta / sp.sqrt(s + eps)
    after = eta / sp.sqrt(s + g**2 + eps)
    ratio_sq = sp.simplify((after / before) ** 2)
    gap = sp.simplify(1 / ratio_sq - 1)  # = g²/(s+ε) ≥ 0
    ok = is_zero(gap - g**2 / (s + eps)) and bool(
        sp.ask(sp.Q.nonnegative(gap), sp.Q.real(g)) in (True, None)
    )
    ev = (
        symbolic("(rate after / rate before)²", ratio_sq),
        symbolic("1/ratio² − 1", gap, text=f"{gap} ≥ 0 for s ≥ 0, ε > 0"),
    )
    return Verdict(
        "holds-if" if ok else "fails",
        "each step multiplies the rate by √((s+ε)/(s+g²+ε)) ≤ 1",
        condition=(
            "constant η (torch's Adagrad additionally divides by 1 + (t−1)·lr_decay, "
            "default 0); strictly decreasing whenever g ≠ 0"
        ),
        evidence=ev,
    )


def _rmsprop_alpha_run(alpha_: float, steps: int = 30) -> tuple[float, float]:
    """torch.optim.RMSprop with a constant unit gradient: (square_avg, param) after ``steps``."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.RMSprop([p], lr=1e-3, alpha=alpha_)
    for _ in range(steps):
        p.grad = torch.ones(1)
        opt.step()
    return float(opt.state[p]["square_avg"].item()), float(p.item())


def check_rmsprop_bounded(ctx: Context) -> Verdict:
    r"""N000.rmsprop.bounded (note 000 line 522): :math:`s_3 - (1-\alpha^3)G =
    (1-\alpha)\sum\alpha^{3-i}(g_i^2-G)\le0`
    for :math:`G=\max g_i^2`, when :math:`0\le\alpha\le1`, :math:`s_0 = 0`. Adagrad's
    :math:`s_t` reaches :math:`tG`. torch.optim.RMSprop only checks ``alpha >= 0``: with
    α = 1.5 and unit gradients its square_avg explodes.
    """
    gs = sp.symbols("g_1:4", real=True)
    G = sp.Symbol("G", positive=True)
    s_t = sp.Integer(0)
    for gi in gs:
        s_t = alpha * s_t + (1 - alpha) * gi**2
    rhs = (1 - alpha) * sum(alpha ** (3 - j) * (gs[j - 1] ** 2 - G) for j in (1, 2, 3))
    identity = is_zero(s_t - (1 - alpha**3) * G - rhs)
    big, p_big = _rmsprop_alpha_run(1.5)
    normal, _ = _rmsprop_alpha_run(0.99)
    ev = (
        symbolic(
            "s₃ − (1 − α³)·max g²", sp.Eq(sp.Symbol("s_3") - (1 - alpha**3) * G, sp.factor(rhs))
        ),
        table(
            "torch.optim.RMSprop, constant gradient 1, 30 steps",
            ("alpha", "square_avg", "0 ≤ square_avg ≤ max g² = 1", "param"),
            (
                (0.99, f"{normal:.4g}", 0 <= normal <= 1, "finite"),
                (1.5, f"{big:.4g}", 0 <= big <= 1, f"{p_big}"),
            ),
        ),
    )
    if identity and 0 <= normal <= 1 and not 0 <= big <= 1:
        return Verdict(
            "holds-if",
            "s_t ≤ (1 − αᵗ)·max g² < max g², whereas Adagrad's s_t can reach t·max g²",
            condition=(
                "0 ≤ α ≤ 1 and s₀ = 0 (torch accepts any alpha ≥ 0; alpha = 1.5 "
                "drives square_avg to −1.9e5 and the parameter to NaN)"
            ),
            evidence=ev,
        )
    return Verdict(
        "holds" if identity else "fails",
        "bound proved" if identity else "identity failed",
        evidence=ev,
    )


def check_rmsprop_notmonotone(ctx: Context) -> Verdict:
    r"""N001.rmsprop.notmonotone (note 001 line 26): :math:`s_t-s_{t-1}=(1-\gamma)(g_t^2-s_{t-1})`,
    so the rate :math:`\eta/\sqrt{s_t+\varepsilon}` rises exactly when :math:`g_t^2<s_{t-1}`
    (for :math:`\gamma<1`). Witness: :math:`g_1 = 1, g_2 = 0` with γ = 0.9, in torch too.
    """
    gamma = sp.Symbol("gamma", positive=True)
    diff = sp.factor(sp.expand(gamma * s + (1 - gamma) * g**2 - s))
    s1 = (1 - sp.Rational(9, 10)) * 1
    s2 = sp.Rational(9, 10) * s1
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.RMSprop([p], lr=1e-3, alpha=0.9, eps=1e-10)
    rates = []
    for gv in (1.0, 0.0):
        p.grad = torch.tensor([gv])
        opt.step()
        rates.append(1e-3 / (opt.state[p]["square_avg"].sqrt().item() + 1e-10))
    ok = s2 < s1 and rates[1] > rates[0]
    ev = (
        symbolic("s_t − s_{t−1}", sp.Eq(sp.Symbol("Delta_s"), diff)),
        table(
            "witness g = (1, 0), γ = 0.9",
            ("step", "s exact", "torch lr/(√s+ε)"),
            ((1, str(s1), f"{rates[0]:.6g}"), (2, str(s2), f"{rates[1]:.6g}")),
        ),
    )
    return Verdict(
        "holds" if ok else "fails",
        "the per-element rate rises whenever g_t² < s_{t−1} (e.g. after a large gradient)",
        evidence=ev,
    )


def check_rmsprop_defaults(ctx: Context) -> Verdict:
    """N001.rmsprop.defaults (note 001 line 33): compare γ = 0.9, η = 0.001 with torch's
    defaults."""
    sig = inspect.signature(torch.optim.RMSprop.__init__).parameters
    lr_d, alpha_d = sig["lr"].default, sig["alpha"].default
    note = {"lr": 0.001, "alpha": 0.9}
    same = lr_d == note["lr"] and alpha_d == note["alpha"]
    ev = (
        table(
            "settings",
            ("hyperparameter", "note (Hinton)", "torch.optim.RMSprop default"),
            (
                ("lr / η", note["lr"], lr_d),
                ("alpha / γ", note["alpha"], alpha_d),
                ("window 1/(1−γ)", 10, round(1 / (1 - alpha_d))),
            ),
        ),
    )
    if same:
        return Verdict("holds", "torch's defaults are Hinton's values", evidence=ev)
    return Verdict(
        "holds-if",
        (
            f"torch defaults to lr={lr_d}, alpha={alpha_d}: 10× the step and "
            "a 10× longer memory than the note's values"
        ),
        condition="pass them explicitly: torch.optim.RMSprop(params, lr=1e-3, alpha=0.9)",
        evidence=ev,
    )


def adamax_step_bound(beta1: sp.Expr, beta2: sp.Expr, steps: sp.Expr) -> sp.Expr:
    r"""Tight bound on :math:`|\Delta\theta_t|/\eta` for Adamax (ε → 0):
    :math:`\frac{1-\beta_1}{1-\beta_1^t}\sum_{k=0}^{t-1}(\beta_1/\beta_2)^k`, attained by
    same-sign gradients :math:`g_i \propto \beta_2^i`."""
    return (1 - beta1) / (1 - beta1**steps) * sp.summation((beta1 / beta2) ** k, (k, 0, steps - 1))


def _torch_adamax_growing(beta1: float, beta2: float, steps: int) -> float:
    """|last step|/lr of torch.optim.Adamax fed g_i = β₂^i (the extremal sequence: every
    β₂^{t−i}|g_i| equals u_t, so each past gradient sits exactly at the infinity-norm bound)."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adamax([p], lr=1.0, betas=(beta1, beta2), eps=0.0)
    prev = 0.0
    step = 0.0
    for i in range(steps):
        p.grad = torch.tensor([beta2**i], dtype=torch.float64)
        opt.step()
        step = abs(p.item() - prev)
        prev = p.item()
    return step


def check_adamax_bound(ctx: Context) -> Verdict:
    r"""N003.adamax.bound (note 003 line 412): "Adamax adds an upper bound to the learning rate".

    With :math:`u_t=\max(\beta_2u_{t-1},|g_t|)\ge\beta_2^{t-i}|g_i|` the step obeys
    :math:`|\Delta\theta_t|\le\eta B_t`,
    :math:`B_t=\frac{1-\beta_1}{1-\beta_1^t}\sum_{k<t}(\beta_1/\beta_2)^k`.
    :math:`B_1 = 1` and :math:`B_\infty=(1-\beta_1)\beta_2/(\beta_2-\beta_1)` for
    :math:`\beta_1<\beta_2`; so :math:`|\Delta\theta|\le\eta` itself fails (torch, betas
    (0.9, 0.95): 1.9·lr in the limit, attained by same-sign gradients shrinking by β₂ per step);
    for :math:`\beta_1\ge\beta_2` there is no uniform bound.
    """
    Bt = adamax_step_bound(b1, b2, t)
    B1 = sp.simplify(adamax_step_bound(b1, b2, sp.Integer(1)))
    B_closed = (1 - b1) / (1 - b1**t) * (1 - (b1 / b2) ** t) / (1 - b1 / b2)
    closed_ok = is_zero(
        sp.simplify(Bt.subs({b1: sp.Rational(9, 10), b2: sp.Rational(19, 20), t: 7}))
        - B_closed.subs({b1: sp.Rational(9, 10), b2: sp.Rational(19, 20), t: 7})
    )
    B_inf = sp.simplify((1 - b1) * b2 / (b2 - b1))
    rows = []
    for bb1, bb2, n in ((0.9, 0.999, 200), (0.9, 0.95, 200), (0.9, 0.95, 20)):
        bound = float(B_closed.subs({b1: bb1, b2: bb2, t: n}))
        got = _torch_adamax_growing(bb1, bb2, n)
        rows.append(
            (
                f"({bb1}, {bb2})",
                n,
                f"{got:.6f}",
                f"{bound:.6f}",
                f"{float(B_inf.subs({b1: bb1, b2: bb2})):.4f}",
            )
        )
    exceeds = any(float(r[2]) > 1.0 for r in rows)
    within = all(float(r[2]) <= float(r[3]) * (1 + 1e-9) for r in rows)
    ev = (
        symbolic("bound on |Δθ_t| / lr", sp.Eq(sp.Symbol("B_t"), B_closed)),
        symbolic("first step", sp.Eq(sp.Symbol("B_1"), B1)),
        symbolic("limit t → ∞ for β₁ < β₂", sp.Eq(sp.Symbol("B_oo"), B_inf)),
        table(
            "torch.optim.Adamax (eps = 0, float64) on gradients g_i = β₂ⁱ",
            ("betas", "step t", "|Δθ_t| / lr", "B_t", "B_∞"),
            rows,
        ),
    )
    if closed_ok and B1 == 1 and exceeds and within:
        return Verdict(
            "holds-if",
            (
                "Adamax's step is bounded, but by lr·B_t, not by lr: B_∞ = (1−β₁)β₂/(β₂−β₁) "
                "≈ 1.009 for the default betas and 1.9 for (0.9, 0.95); torch "
                "attains it"
            ),
            condition=(
                "β₁ < β₂, with the bound |Δθ_t| ≤ lr·(1−β₁)(1−(β₁/β₂)ᵗ)/((1−β₁ᵗ)(1−β₁/β₂)); "
                "|Δθ| ≤ lr holds only at t = 1"
            ),
            evidence=ev,
        )
    return Verdict("fails", "the derived bound is not respected by torch", evidence=ev)


def check_adadelta_nolr(ctx: Context) -> Verdict:
    r"""N004.adadelta.nolr (note 004 lines 1070, 1104-1106): torch.optim.Adadelta has ``lr``
    (default 1.0) multiplying the step :math:`\Delta\theta = -\mathrm{lr}\cdot\sqrt{(\Delta
    x+\varepsilon)/(s+\varepsilon)}\,g`;
    its accumulator stores the unscaled step. With lr = 1 it is the lr-free AdaDelta.
    """
    lr_default = inspect.signature(torch.optim.Adadelta.__init__).parameters["lr"].default
    torch.manual_seed(0)
    grads = [torch.randn(3, dtype=torch.float64) for _ in range(5)]

    def run(lr_: float) -> torch.Tensor:
        p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adadelta([p], lr=lr_, rho=0.9, eps=1e-6)
        for gr in grads:
            p.grad = gr.clone()
            opt.step()
        return p.detach().clone()

    # the note's lr-free rule (note 000 lines 821-827, eps 1e-6)
    x = torch.zeros(3, dtype=torch.float64)
    sq = torch.zeros(3, dtype=torch.float64)
    de = torch.zeros(3, dtype=torch.float64)
    for gr in grads:
        sq = 0.9 * sq + 0.1 * gr**2
        cur = torch.sqrt(de + 1e-6) / torch.sqrt(sq + 1e-6) * gr
        de = 0.9 * de + 0.1 * cur**2
        x = x - cur
    d1 = float((run(1.0) - x).abs().max())
    d2 = float((run(0.5) - x).abs().max())
    ev = (
        table(
            "torch.optim.Adadelta vs the lr-free rule, 5 random float64 steps",
            ("torch lr", "max |Δθ|"),
            ((1.0, f"{d1:.2e}"), (0.5, f"{d2:.2e}")),
        ),
        text("signature", f"torch.optim.Adadelta default lr = {lr_default}"),
    )
    ok = lr_default == 1.0 and d1 < 1e-12 and d2 > 1e-3
    return Verdict(
        "holds-if" if ok else "fails",
        (
            "the algorithm has no learning rate; torch adds an lr multiplier "
            "whose default 1.0 recovers it exactly"
        ),
        condition="torch's lr = 1.0 (its default); any other lr scales every step",
        evidence=ev,
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N000.adagrad.decay": check_adagrad_decay,
    "N000.rmsprop.bounded": check_rmsprop_bounded,
    "N001.rmsprop.notmonotone": check_rmsprop_notmonotone,
    "N001.rmsprop.defaults": check_rmsprop_defaults,
    "N003.adamax.bound": check_adamax_bound,
    "N004.adadelta.nolr": check_adadelta_nolr,
}
