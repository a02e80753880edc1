"""Claims of note 000 (optimisation algorithms), note 001 (RMSprop) and note 002 (the
PyTorch introduction): one :class:`Claim` per row of ``CLAIMS.md``, in registry order."""

from __future__ import annotations

from optverify.analytic.claim_registry import Claim
from optverify.analytic.claim_registry import note_claim as _c

__all__ = ["ROWS"]

ROWS: tuple[Claim, ...] = (
    # ---- 000: §2.6 optimisation algorithms
    _c(
        "N000.sgd.rule",
        "D",
        "28-40",
        (
            "The from-scratch sgd_update (θ ← θ − η∇L) performs the same "
            "update as torch.optim.SGD(params, lr)."
        ),
    ),
    _c(
        "N000.sgd.lr1",
        "E",
        "132-176",
        (
            "With learning rate 1.0 the training loss keeps bouncing back "
            "up instead of falling steadily, unlike with 0.01."
        ),
    ),
    _c(
        "N000.sgd.batch",
        "E",
        "80-128",
        "Training with batch size 1 gives a far noisier loss curve than batch size 64.",
    ),
    _c(
        "N000.mom.rule",
        "D",
        "230-266, 328-337",
        (
            "The from-scratch sgd_momentum (v ← γv + η∇L, θ ← θ − v) performs "
            "the same update as torch.optim.SGD(momentum=γ)."
        ),
    ),
    _c(
        "N000.mom.partial",
        "S",
        "240-254",
        (
            "For a constant gradient g and v₀ = 0 the velocities are v₁ = "
            "ηg, v₂ = (1+γ)ηg, v₃ = (1+γ+γ²)ηg."
        ),
    ),
    _c(
        "N000.mom.steady",
        "S",
        "255",
        "The velocity tends to ηg/(1 − γ) as the number of steps grows.",
    ),
    _c("N000.mom.tenfold", "S", "258", "With γ = 0.9 the largest update is ten times ηg."),
    _c(
        "N000.adagrad.rule",
        "D",
        "380-398, 470-478",
        (
            "The from-scratch sgd_adagrad (s ← s + g², θ ← θ − ηg/√(s+ε), "
            "ε = 1e-10) performs the same update as torch.optim.Adagrad."
        ),
    ),
    _c(
        "N000.adagrad.decay",
        "S",
        "388-390",
        (
            "Adagrad's per-element learning rate η/√(s+ε) can only stay equal "
            "or shrink from step to step."
        ),
    ),
    _c(
        "N000.rmsprop.rule",
        "D",
        "509-530, 600-606",
        (
            "The from-scratch rmsprop (s ← αs + (1−α)g², θ ← θ − ηg/√(s+ε), "
            "ε = 1e-10) performs the same update as torch.optim.RMSprop(lr, "
            "alpha)."
        ),
    ),
    _c(
        "N000.rmsprop.bounded",
        "S",
        "522",
        (
            "Unlike Adagrad's accumulator, RMSProp's s stays bounded, by "
            "the largest squared gradient seen."
        ),
    ),
    _c(
        "N000.adam.rule",
        "D",
        "641-677, 757-765",
        (
            "The from-scratch adam (bias-corrected moments, θ ← θ − η v̂/√(ŝ+ε), "
            "ε = 1e-8, t from 1) performs the same update as torch.optim.Adam(lr)."
        ),
    ),
    _c(
        "N000.adam.biasvanish",
        "S",
        "655",
        "For 0 ≤ β₁, β₂ < 1 the bias-correction factor 1/(1 − βᵗ) tends to 1 as t grows.",
    ),
    _c(
        "N000.adadelta.rule",
        "D",
        "794-827, 902-910",
        (
            "The from-scratch adadelta (ε = 1e-6, no learning rate) performs "
            "the same update as torch.optim.Adadelta(rho=0.9)."
        ),
    ),
    _c(
        "N000.code.runs",
        "A",
        "all code blocks",
        (
            "The note's training code runs on the installed torch (it uses "
            "loss.data[0] on 0-d losses and Variable)."
        ),
    ),
    # ---- 001: RMSprop
    _c(
        "N001.rmsprop.rule",
        "D",
        "16-28, 65-73, 207-210",
        (
            "The from-scratch rmsprop (ε = 1e-10) performs the same update "
            "as torch.optim.RMSprop(lr=1e-3, alpha=0.9)."
        ),
    ),
    _c(
        "N001.rmsprop.notmonotone",
        "S",
        "26",
        (
            "RMSProp's per-element learning rate is no longer monotonically "
            "decreasing: it can grow again."
        ),
    ),
    _c(
        "N001.rmsprop.defaults",
        "S",
        "33",
        (
            "Hinton's recommended settings are γ = 0.9 and η = 0.001 (to "
            "be compared with torch.optim.RMSprop's defaults)."
        ),
    ),
    _c(
        "N001.rmsprop.alpha",
        "E",
        "100-195",
        (
            "alpha = 0.9 and alpha = 0.999 reach similar losses but oscillate "
            "differently, and the built-in optimiser tracks the from-scratch "
            "one."
        ),
    ),
    # ---- 002: PyTorch introduction
    _c(
        "N002.autograd.mean",
        "N",
        "99-108",
        "The mean of the element-wise square of [[1,2],[3,4]] is 7.5.",
    ),
    _c(
        "N002.autograd.grad",
        "S",
        "116-133",
        "The gradient of mean(x⊙x) for a 2×2 x is x/2, and torch's autograd returns it.",
    ),
    _c(
        "N002.act.ranges",
        "S",
        "185-191",
        "relu maps into [0, ∞), sigmoid into (0, 1), tanh into (−1, 1) and softplus into (0, ∞).",
    ),
    _c(
        "N002.opt.compare",
        "E",
        "674-756",
        (
            "On y = x² plus noise, SGD, Momentum(0.8), RMSprop(alpha 0.9) "
            "and Adam(betas 0.9, 0.99) all train, and Adam/RMSprop beat plain "
            "SGD."
        ),
    ),
    _c(
        "N002.code.runs",
        "A",
        "all code blocks",
        "The note's code blocks run as written (including the typos they carry).",
    ),
)
