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
import math
from collections.abc import Callable

import sympy as sp
import torch

from optverify.analytic._common import is_zero, symbolic, table, text
from optverify.analytic.verdict import Context, Verdict

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
    r"""N000.adagrad.decay (note 000 lines 383-390): the note's rate
    :math:`\eta/\sqrt{s+\varepsilon}`
    with a constant η (the note's ``sgd_adagrad(parameters, sqrs, lr)`` takes one lr).

    After one step the squared ratio of the rates is :math:`(s+\varepsilon)/(s'+\varepsilon)`
    with :math:`s' = s + g^2`; the rate never grows iff :math:`1/\text{ratio}^2 - 1 =
    (s'-s)/(s+\varepsilon) \ge 0`. sympy must answer ``True`` for that (g real, s ≥ 0,
    ε > 0); an undecided answer is not accepted: the check then searches a grid of
    (s, g) for a counterexample and reports ``fails`` either way, with what it found.

    Input ``accumulate``: the accumulator update, ``lambda s, g: s + g**2`` (the note's).
    """
    accumulate = ctx.given("accumulate", lambda s_, g_: s_ + g_**2)
    before = eta / sp.sqrt(s + eps)
    after = eta / sp.sqrt(accumulate(s, g) + eps)
    ratio_sq = sp.simplify((after / before) ** 2)
    gap = sp.simplify(1 / ratio_sq - 1)
    proved = gap.is_nonnegative is True
    ev = [
        symbolic("(rate after / rate before)²", ratio_sq),
        symbolic("1/ratio² − 1", gap, text=f"{gap}: sympy is_nonnegative = {gap.is_nonnegative}"),
        text(
            "torch",
            "torch.optim.Adagrad also divides lr by 1 + (t−1)·lr_decay (default 0), "
            "which only shrinks the rate further.",
        ),
    ]
    if proved:
        return Verdict(
            "holds",
            "each step multiplies the rate by √((s+ε)/(s+g²+ε)) ≤ 1 (strictly < 1 when g ≠ 0)",
            evidence=tuple(ev),
        )
    witness = None
    for s_v in (0.0, 0.5, 1.0, 4.0):
        for g_v in (0.0, 0.1, 1.0, 3.0):
            s_next = float(accumulate(sp.Float(s_v), sp.Float(g_v))) + 1e-10
            if s_next <= 0:  # the rate is not even defined there: a counterexample too
                witness = (s_v, g_v, [1 / math.sqrt(s_v + 1e-10), math.inf])
                break
            rates = [1 / math.sqrt(s_v + 1e-10), 1 / math.sqrt(s_next)]
            if rates[1] > rates[0]:
                witness = (s_v, g_v, rates)
                break
        if witness:
            break
    if witness:
        s_v, g_v, rates = witness
        ev.append(table("counterexample (η = 1, ε = 1e-10)", ("s", "g", "rate before", "after"),
                        [(s_v, g_v, f"{rates[0]:.6g}", f"{rates[1]:.6g}")]))  # fmt: skip
        return Verdict("fails", f"the rate grows from {rates[0]:.4g} to {rates[1]:.4g} at "
                       f"s = {s_v}, g = {g_v}", evidence=tuple(ev))  # fmt: skip
    return Verdict("fails", f"not shown: sympy cannot sign {gap} and no counterexample was found",
                   evidence=tuple(ev))  # fmt: skip


def _rmsprop_alpha_run(alpha_: float, steps: int = 30) -> tuple[float, float]:
    """torch.optim.RMSprop with a constant unit gradient: (square_avg, param) after ``steps``."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.RMSprop([p], lr=1e-3, alpha=alpha_)
    for _ in range(steps):
        p.grad = torch.ones(1)
        opt.step()
    return float(opt.state[p]["square_avg"].item()), float(p.item())


def check_rmsprop_bounded(ctx: Context) -> Verdict:
    r"""N000.rmsprop.bounded (note 000 line 522): RMSProp's :math:`s` stays bounded by the largest
    :math:`g^2`, unlike Adagrad's.

    The note's premises: α is "a moving-average coefficient" (line 520; the note uses 0.9 and
    0.999), i.e. :math:`0\le\alpha\le1`, and ``sqrs`` start at zero. Proof for every t by
    induction: with :math:`G = \max g_i^2`, :math:`d = G - s_{t-1} \ge 0`,
    :math:`e = G - g_t^2 \ge 0`, :math:`G - s_t = \alpha d + (1-\alpha)e`, a sum of products
    of non-negative terms (sympy verifies the identity and the sign); the same with
    :math:`s_{t-1}\ge0` gives :math:`s_t \ge 0`. Adagrad's :math:`s_t = tG` for constant g.

    Input ``alpha_max`` (1): the largest α the premise admits; above 1 the induction breaks
    and a run with unit gradients shows :math:`|s_t|` leaving :math:`[0, G]`.
    """
    alpha_max = sp.nsimplify(ctx.given("alpha_max", 1))
    G, d, e_, a_ = sp.symbols("G d e a", nonnegative=True)
    one_minus = sp.Symbol("b", nonnegative=True) if alpha_max <= 1 else sp.Symbol("b", real=True)
    s_prev = G - d
    g2 = G - e_
    upper_gap = sp.expand(G - (a_ * s_prev + (1 - a_) * g2))
    identity = is_zero(upper_gap - (a_ * d + (1 - a_) * e_))
    step_sign = (a_ * d + one_minus * e_).is_nonnegative
    lower = a_ * sp.Symbol("s0", nonnegative=True) + one_minus * sp.Symbol("g2", nonnegative=True)
    proved = identity and step_sign is True and lower.is_nonnegative is True
    # a run at the largest admitted alpha, unit gradients: s must stay in [0, 1]
    s_run, out = 0.0, []
    a_val = float(alpha_max)
    for _ in range(30):
        s_run = a_val * s_run + (1 - a_val) * 1.0
        out.append(s_run)
    left = [v for v in out if not 0 <= v <= 1 + 1e-12]
    ev = (
        symbolic("G − s_t with d = G − s_{t−1}, e = G − g_t²", sp.Eq(G - sp.Symbol("s_t"),
                                                                    a_ * d + (1 - a_) * e_)),
        text("induction", f"identity {identity}; α·d + (1−α)·e ≥ 0 for 0 ≤ α ≤ {alpha_max}: "
             f"{step_sign}; s₀ = 0 ≤ G (the note's sqrs start at zero)"),
        table(
            f"s_t with unit gradients at α = {alpha_max} (G = 1), and Adagrad's s_t",
            ("t", "RMSProp s_t", "Adagrad s_t"),
            [(k, f"{out[k - 1]:.4g}", k) for k in (1, 2, 10, 30)],
        ),
    )  # fmt: skip
    if proved and not left:
        return Verdict(
            "holds",
            "0 ≤ s_t ≤ max g² for every t (induction, 0 ≤ α ≤ 1 as a moving-average coefficient "
            "is in the note), whereas Adagrad's s_t reaches t·max g²",
            evidence=ev,
        )
    return Verdict(
        "fails",
        f"with α up to {alpha_max} s leaves [0, max g²]: s_30 = {out[-1]:.4g} for unit gradients",
        evidence=ev,
    )


def check_rmsprop_notmonotone(ctx: Context) -> Verdict:
    r"""N001.rmsprop.notmonotone (note 001 line 26): :math:`s_t-s_{t-1}=(1-\gamma)(g_t^2-s_{t-1})`,
    so the rate :math:`\eta/\sqrt{s_t+\varepsilon}` rises exactly when :math:`g_t^2<s_{t-1}`
    (for :math:`\gamma<1`). Witness: :math:`g_1 = 1, g_2 = 0` with γ = 0.9, in torch too.
    """
    gamma = sp.Symbol("gamma", positive=True)
    gam = sp.nsimplify(ctx.given("alpha", sp.Rational(9, 10)))
    diff = sp.factor(sp.expand(gamma * s + (1 - gamma) * g**2 - s))
    s1 = (1 - gam) * 1
    s2 = gam * s1
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.RMSprop([p], lr=1e-3, alpha=float(gam), eps=1e-10)
    rates = []
    for gv in (1.0, 0.0):
        p.grad = torch.tensor([gv])
        opt.step()
        rates.append(1e-3 / (opt.state[p]["square_avg"].sqrt().item() + 1e-10))
    ok = s2 < s1 and rates[1] > rates[0]
    ev = (
        symbolic("s_t − s_{t−1}", sp.Eq(sp.Symbol("Delta_s"), diff)),
        table(
            f"witness g = (1, 0), γ = {gam}",
            ("step", "s exact", "torch lr/(√s+ε)"),
            ((1, str(s1), f"{rates[0]:.6g}"), (2, str(s2), f"{rates[1]:.6g}")),
        ),
    )
    return Verdict(
        "holds" if ok else "fails",
        "the per-element rate rises whenever g_t² < s_{t−1} (e.g. after a large gradient)"
        if ok
        else f"with γ = {gam} the witness g = (1, 0) does not raise the rate "
        f"({rates[0]:.6g} → {rates[1]:.6g})",
        evidence=ev,
    )


def check_rmsprop_defaults(ctx: Context) -> Verdict:
    """N001.rmsprop.defaults (note 001 line 33): compare γ = 0.9, η = 0.001 with torch's
    defaults."""
    cls = ctx.given("torch_class", torch.optim.RMSprop)
    sig = inspect.signature(cls.__init__).parameters
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
        "fails",
        (
            f"torch.optim.RMSprop's defaults are lr={lr_d}, alpha={alpha_d}, not the note's "
            f"η = 0.001, γ = 0.9 ({lr_d / note['lr']:g}× the step, window "
            f"{round(1 / (1 - alpha_d))} steps instead of 10): pass lr=1e-3, alpha=0.9 "
            "explicitly"
        ),
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
    r"""N003.adamax.bound (note 003 line 412): "Adamax: Adam增加学习率上限" (Adamax adds an upper
    bound to the learning rate); the note states no condition on the betas.

    With :math:`u_t=\max(\beta_2u_{t-1},|g_t|)\ge\beta_2^{t-i}|g_i|` the step obeys
    :math:`|\Delta\theta_t|\le\eta B_t`,
    :math:`B_t=\frac{1-\beta_1}{1-\beta_1^t}\sum_{k<t}(\beta_1/\beta_2)^k`, attained by
    same-sign gradients :math:`g_i=\beta_2^i`. For :math:`\beta_1<\beta_2`,
    :math:`B_t\le B_\infty=(1-\beta_1)\beta_2/(\beta_2-\beta_1)`: a bound (not lr itself:
    1.9·lr for betas (0.9, 0.95)). For :math:`\beta_1\ge\beta_2` (valid in torch) :math:`B_t`
    grows without bound: no upper bound.

    Inputs: ``bound`` (the bound function checked against torch, default
    :func:`adamax_step_bound`), ``premise`` (``""``: the note's, no condition on the betas).
    """
    bound_fn = ctx.given("bound", adamax_step_bound)
    premise = ctx.given("premise", "")
    Bt = adamax_step_bound(b1, b2, t)
    B1 = sp.simplify(adamax_step_bound(b1, b2, sp.Integer(1)))
    B_closed = (1 - b1) / (1 - b1**t) * (1 - (b1 / b2) ** t) / (1 - b1 / b2)
    closed_ok = is_zero(
        sp.simplify(Bt.subs({b1: sp.Rational(9, 10), b2: sp.Rational(19, 20), t: 7}))
        - B_closed.subs({b1: sp.Rational(9, 10), b2: sp.Rational(19, 20), t: 7})
    )
    B_inf = sp.simplify((1 - b1) * b2 / (b2 - b1))
    rows = []
    for bb1, bb2, n in ((0.9, 0.999, 200), (0.9, 0.95, 200), (0.9, 0.95, 20), (0.9, 0.9, 200)):
        bound = float(bound_fn(sp.nsimplify(bb1), sp.nsimplify(bb2), sp.Integer(n)))
        got = _torch_adamax_growing(bb1, bb2, n)
        rows.append(
            (
                f"({bb1}, {bb2})",
                n,
                f"{got:.6f}",
                f"{bound:.6f}",
                f"{float(B_inf.subs({b1: bb1, b2: bb2})):.4f}" if bb1 < bb2 else "∞",
            )
        )
    within = all(float(r[2]) <= float(r[3]) * (1 + 1e-9) for r in rows)
    equal_betas = _torch_adamax_growing(0.9, 0.9, 400)
    ev = (
        symbolic("bound on |Δθ_t| / lr", sp.Eq(sp.Symbol("B_t"), B_closed)),
        symbolic("first step", sp.Eq(sp.Symbol("B_1"), B1)),
        symbolic("limit t → ∞ for β₁ < β₂", sp.Eq(sp.Symbol("B_oo"), B_inf)),
        table(
            "torch.optim.Adamax (eps = 0, float64) on gradients g_i = β₂ⁱ",
            ("betas", "step t", "|Δθ_t| / lr", "bound checked", "B_∞"),
            rows,
        ),
    )  # fmt: skip
    if not (closed_ok and B1 == 1 and within):
        bad = next((r for r in rows if float(r[2]) > float(r[3]) * (1 + 1e-9)), None)
        return Verdict(
            "fails",
            "torch's step exceeds the bound"
            + (f": betas {bad[0]}, t = {bad[1]}: {bad[2]} > {bad[3]}" if bad else ""),
            evidence=ev,
        )
    if premise == "β₁ < β₂":
        return Verdict("holds", "for β₁ < β₂ the step is bounded by lr·(1−β₁)β₂/(β₂−β₁)",
                       evidence=ev)  # fmt: skip
    return Verdict(
        "holds-if",
        (
            "Adamax's step is bounded by lr·B_t ≤ lr·(1−β₁)β₂/(β₂−β₁) (≈ 1.009·lr for the "
            "default betas, 1.9·lr for (0.9, 0.95); torch attains it), not by lr itself"
        ),
        condition="β₁ < β₂ (torch's defaults 0.9 < 0.999 satisfy it; the note states none)",
        outside=(
            f"betas (0.9, 0.9): torch's step reaches {equal_betas:.1f}·lr at t = 400 and grows "
            "like (1−β₁)·t·lr"
        ),
        evidence=ev,
    )


def check_adadelta_nolr(ctx: Context) -> Verdict:
    r"""N004.adadelta.nolr (note 004 lines 1070, 1104-1106): torch.optim.Adadelta has ``lr``
    (default 1.0) multiplying the step :math:`\Delta\theta = -\mathrm{lr}\cdot\sqrt{(\Delta
    x+\varepsilon)/(s+\varepsilon)}\,g`;
    its accumulator stores the unscaled step. With lr = 1 it is the lr-free AdaDelta.
    """
    lr_default = inspect.signature(torch.optim.Adadelta.__init__).parameters["lr"].default
    lr_used = ctx.given("lr", lr_default)  # the note constructs torch.optim.Adadelta without lr
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
    d1 = float((run(lr_used) - x).abs().max())
    d2 = float((run(0.5) - x).abs().max())
    ev = (
        table(
            "torch.optim.Adadelta vs the lr-free rule, 5 random float64 steps",
            ("torch lr", "max |Δθ|"),
            ((f"{lr_used} (as the note constructs it)", f"{d1:.2e}"), (0.5, f"{d2:.2e}")),
        ),
        text("signature", f"torch.optim.Adadelta default lr = {lr_default}"),
    )
    ok = d1 < 1e-12
    return Verdict(
        "holds" if ok else "fails",
        (
            "the algorithm has no learning rate; torch.optim.Adadelta adds an lr multiplier "
            f"whose default {lr_default} recovers it exactly (another lr, e.g. 0.5, scales "
            f"every step: max |Δθ| {d2:.2e})"
        )
        if ok
        else f"torch.optim.Adadelta(lr={lr_used}) is not the lr-free rule (max |Δθ| {d1:.2e})",
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
