"""Claims of note 003 (learning rate and momentum) and note 004 (word2vec and advanced
optimisation), then the ``T.`` claims: torch against its own documentation.

One :class:`Claim` per row of ``CLAIMS.md``, in registry order; statements are in our own
English words, ``lines`` are 1-based line ranges in the note (for ``T.`` claims, in the
torch source file).
"""

from __future__ import annotations

from optverify.analytic.claim_registry import Claim
from optverify.analytic.claim_registry import note_claim as _c

__all__ = ["ROWS"]

ROWS: tuple[Claim, ...] = (
    # ---- 003: learning rate and momentum
    _c(
        "N003.lr.diverge",
        "N",
        "19-25",
        (
            "Gradient descent with lr 1 on y = 4x² from x₀ = 2 gives x₁ = "
            "−14, y₁ = 784, x₂ = 98, y₂ = 38416."
        ),
    ),
    _c(
        "N003.lr.onestep",
        "S",
        "139-149",
        (
            "With lr = 1/8 gradient descent on y = 4x² lands on the minimum "
            "in one step, whatever x₀ is."
        ),
    ),
    _c(
        "N003.lr.range",
        "S",
        "94, 136",
        (
            "Which of lr 1, 0.5, 0.2, 0.125, 0.1 converge, oscillate or diverge "
            "on y = 4x², and the exact interval of convergent learning rates."
        ),
    ),
    _c(
        "N003.ema.sum",
        "N",
        "233-256",
        (
            "The value printed by np.sum(weights) for β = 0.9 and 100 points "
            "(the exponential weights sum to about one)."
        ),
    ),
    _c(
        "N003.ema.window",
        "S",
        "276-278",
        (
            "With β = 0.9 the exponentially weighted average mostly remembers "
            "the last 10 steps, i.e. 1/(1−β)."
        ),
    ),
    _c(
        "N003.torch.momentum",
        "D",
        "282-296",
        "torch.optim.SGD(momentum=m) computes v ← m·v + g, w ← w − lr·v, without a (1 − m) factor.",
    ),
    _c(
        "N003.mom.expand",
        "S",
        "297-306",
        "Unrolling PyTorch's momentum gives v₁₀₀ = g₁₀₀ + m g₉₉ + m² g₉₈ + m³ v₉₇.",
    ),
    _c(
        "N003.mom.oscillate",
        "S",
        "309-379",
        (
            "On 4x² with lr 0.01, momentum 0.9 overshoots and oscillates, "
            "momentum 0.63 converges quickly, and lr 0.03 without momentum "
            "beats lr 0.01."
        ),
    ),
    _c(
        "N003.sgd.l2",
        "D",
        "384-399",
        (
            "SGD's weight_decay is an L2 coefficient: SGD with weight_decay "
            "λ equals SGD on loss + λ/2‖w‖²."
        ),
    ),
    _c(
        "N003.optim.list",
        "A",
        "405-416",
        (
            "The ten optimisers the note lists all exist in torch.optim (and "
            "which newer ones the list misses)."
        ),
    ),
    _c(
        "N003.adamax.bound",
        "S",
        "412",
        (
            "Adamax puts an upper bound on the learning rate (state the bound "
            "on its step that really holds)."
        ),
    ),
    # ---- 004: word2vec and advanced optimisation
    _c(
        "N004.w2v.discard",
        "S",
        "97-118",
        (
            "The discard probability max(1 − √(t/f), 0) is positive only "
            "when f > t, and the note's code computes exactly it."
        ),
    ),
    _c("N004.w2v.sigmoid", "S", "410-413", "1 − σ(x) = σ(−x)."),
    _c(
        "N004.w2v.bce",
        "N",
        "396-413",
        (
            "The masked sigmoid binary cross-entropy of the example equals "
            "the hand computation, for both rows."
        ),
    ),
    _c(
        "N004.cond",
        "S",
        "506-526",
        "f = 0.1x₁² + 2x₂² has Hessian eigenvalues 0.2 and 4, so condition number 20.",
    ),
    _c(
        "N004.gd.traj",
        "N",
        "549-581",
        (
            "20 GD steps from (−5, −2): η 0.4 ends at x1 −0.943467, x2 −0.000073; "
            "η 0.6 at x1 −0.387814, x2 −1673.365109."
        ),
    ),
    _c(
        "N004.gd.maxlr",
        "S",
        "530-532, 571-581",
        "The largest η for which GD converges on f, and why 0.4 converges while 0.6 diverges.",
    ),
    _c(
        "N004.mom.traj",
        "N",
        "620-644",
        (
            "Momentum β 0.5, 20 steps: η 0.4 ends at x1 −0.062843, x2 0.001202; "
            "η 0.6 at x1 0.007188, x2 0.002553."
        ),
    ),
    _c(
        "N004.mom.maxlr",
        "S",
        "636-644",
        "With momentum the largest stable η is larger than without (value for β = 0.5).",
    ),
    _c(
        "N004.mom.versions",
        "S",
        "588-616, 696-716",
        (
            "The variant m ← βm + (1−β)g, x ← x − αm with α = η/(1−β) is "
            "the same method as m ← βm + ηg, x ← x − m (for which η schedules)."
        ),
    ),
    _c("N004.ema.sum", "S", "660-671", "(1−β) Σ_{i=0}^{t} βⁱ = 1 − βᵗ."),
    _c("N004.ema.e", "S", "674-690", "β^{1/(1−β)} tends to e⁻¹ as β → 1, and 0.95²⁰ ≈ e⁻¹."),
    _c(
        "N004.mom.lr5",
        "S",
        "777",
        (
            "Momentum 0.9 makes the effective step 5× that of momentum 0.5, "
            "so dividing lr by 5 compensates."
        ),
    ),
    _c(
        "N004.adagrad.traj",
        "N",
        "855-890",
        (
            "AdaGrad (ε 1e-6 inside the root), 20 steps: η 0.4 ends at x1 "
            "−2.382563, x2 −0.158591; η 2 at x1 −0.002295, x2 −0.000000."
        ),
    ),
    _c(
        "N004.adagrad.rule",
        "D",
        "915-921, 937-943",
        (
            "The d2l adagrad (ε = 1e-6 inside the root) performs the same "
            "update as torch.optim.Adagrad(lr=0.1)."
        ),
    ),
    _c(
        "N004.rmsprop.traj",
        "N",
        "985-1003",
        "RMSProp α 0.4, β 0.9, 20 steps ends at x1 −0.010599, x2 0.000000.",
    ),
    _c(
        "N004.rmsprop.rule",
        "D",
        "1028-1034, 1051-1056",
        (
            "The d2l rmsprop (ε = 1e-6 inside the root) performs the same "
            "update as torch.optim.RMSprop(lr=0.01, alpha=0.9)."
        ),
    ),
    _c(
        "N004.adadelta.nolr",
        "S",
        "1070, 1104-1106",
        "AdaDelta has no learning-rate hyperparameter (compare with torch.optim.Adadelta's lr).",
    ),
    _c(
        "N004.adadelta.rule",
        "D",
        "1119-1127, 1141-1146",
        "The d2l adadelta (ε = 1e-5) performs the same update as torch.optim.Adadelta(rho=0.9).",
    ),
    _c(
        "N004.adam.bias",
        "S",
        "1185-1190",
        (
            "(1−β₁) Σ_{i=1}^{t} β₁^{t−i} = 1 − β₁ᵗ, so m₁ = 0.1 g₁ for β₁ "
            "= 0.9, and dividing by 1 − β₁ᵗ makes the weights sum to 1."
        ),
    ),
    _c(
        "N004.adam.rule",
        "D",
        "1234-1245, 1260-1265",
        (
            "The d2l adam (ε = 1e-6 outside the root, t from 1) performs "
            "the same update as torch.optim.Adam(lr=0.01)."
        ),
    ),
    _c(
        "N004.finetune.groups",
        "D",
        "1437-1446",
        (
            "Two parameter groups (fc at 10× lr) with weight_decay 0.001: "
            "each group uses its own lr, and the result equals two separate "
            "optimisers."
        ),
    ),
    # ---- T: torch 2.13 against its own documentation
    _c(
        "T.adafactor.wd_default",
        "T",
        "_adafactor.py:31, 245",
        "Adafactor's documented weight_decay default (1e-2) is the default its constructor uses.",
        "torch/optim/_adafactor.py",
    ),
    _c(
        "T.muon.momentum",
        "T",
        "_muon.py:220, 333",
        "Muon's momentum buffer follows its documented rule B_t = μB_{t−1} + g_t.",
        "torch/optim/_muon.py",
    ),
    _c(
        "T.adagrad.group_init",
        "T",
        "adagrad.py:79-97, 172-174",
        (
            "A per-group initial_accumulator_value given to Adagrad initialises "
            "that group's accumulator."
        ),
        "torch/optim/adagrad.py",
    ),
    _c(
        "T.rmsprop.centered",
        "T",
        "rmsprop.py:220-229, 316-323",
        (
            "Centered RMSprop's update (√(v − ḡ²) + ε in the denominator) "
            "stays finite for finite gradients."
        ),
        "torch/optim/rmsprop.py",
    ),
    _c(
        "T.state_dict.copy",
        "T",
        "optimizer.py:774-803",
        (
            "load_state_dict copies the state it is given (the helper documents "
            "'a deep copy'), so the caller's tensors are not mutated by later "
            "steps."
        ),
        "torch/optim/optimizer.py",
    ),
    _c(
        "T.sparseadam.eps",
        "T",
        "sparse_adam.py:182; _functional.py:77-84",
        (
            "SparseAdam ('a lazy version of Adam') applies ε like Adam, so "
            "on the entries it touches it steps like Adam."
        ),
        "torch/optim/sparse_adam.py",
    ),
    _c(
        "T.rprop.lr",
        "T",
        "rprop.py:106-110, 279",
        "Changing a param group's lr (e.g. with an lr scheduler) changes Rprop's later steps.",
        "torch/optim/rprop.py",
    ),
    _c(
        "T.rmsprop.alpha_range",
        "T",
        "rmsprop.py:55-56",
        (
            "torch.optim.RMSprop rejects smoothing constants alpha outside "
            "[0, 1] (the range where s stays an average)."
        ),
        "torch/optim/rmsprop.py",
    ),
)
