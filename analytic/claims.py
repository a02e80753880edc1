"""The claim registry: one :class:`Claim` per row of ``CLAIMS.md``, plus the ``T.`` claims.

Metadata (ID, kind, note file, line range, statement) lives here in code, so the registry
works without ``CLAIMS.md``. The checks live in the topic modules; each exposes
``CHECKS: dict[str, Callable[[Context], Verdict]]`` keyed by claim ID and this module
collects them. ``decide_all`` runs them; a check that raises yields an :class:`Undecided`
row (``error``, or ``not-available`` when the notes are absent) instead of crashing.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Literal

from optverify.analytic._common import NotesUnavailable
from optverify.analytic.verdict import Context, Evidence, Verdict

__all__ = [
    "CHECKS",
    "CLAIMS",
    "NOTE",
    "Claim",
    "Outcome",
    "Undecided",
    "decide",
    "decide_all",
    "select",
]

Check = Callable[[Context], Verdict]

NOTE = {
    "000": "000_4553c4c6d47e08e5.txt",
    "001": "001_5d5832c955028860.txt",
    "002": "002_59f95b2438e61cce.txt",
    "003": "003_0f0b2f05897dc972.txt",
    "004": "004_2b399d6be3e5d837.txt",
}

#: topic modules that contribute ``CHECKS``; the last two belong to the D/E work and are
#: imported only when present.
TOPIC_MODULES = (
    "optverify.analytic.basics",
    "optverify.analytic.momentum",
    "optverify.analytic.learning_rate",
    "optverify.analytic.ema",
    "optverify.analytic.adaptive",
    "optverify.analytic.word2vec",
    "optverify.analytic.numbers",
    "optverify.analytic.audit",
    "optverify.analytic.torch_docs",
)
OPTIONAL_MODULES = ("optverify.analytic.differential", "optverify.analytic.empirical")


@dataclass(frozen=True)
class Undecided:
    """A row whose check could not decide: it raised (``error``) or lacks its input."""

    verdict: Literal["error", "not-available"]
    summary: str
    condition: str = ""
    evidence: tuple[Evidence, ...] = ()


Outcome = Verdict | Undecided


@dataclass(frozen=True)
class Claim:
    """One checkable statement: where the notes make it, what it says, and its check."""

    id: str
    kind: str  # S N D E A T
    note: str  # note file name (or the torch source file for T claims)
    lines: str  # 1-based line range(s) in ``note``
    statement: str  # in our own English words

    def check(self, ctx: Context) -> Verdict:
        """Decide the claim; raises ``LookupError`` when no check is registered."""
        fn = CHECKS.get(self.id)
        if fn is None:
            raise LookupError(f"no check registered for {self.id}")
        return fn(ctx)


def _c(cid: str, kind: str, lines: str, statement: str, note: str | None = None) -> Claim:
    return Claim(cid, kind, note or NOTE[cid[1:4]], lines, statement)


_ROWS: tuple[Claim, ...] = (
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

CLAIMS: dict[str, Claim] = {c.id: c for c in _ROWS}


def _collect_checks() -> dict[str, Check]:
    checks: dict[str, Check] = {}
    for name in TOPIC_MODULES + OPTIONAL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name in OPTIONAL_MODULES and exc.name == name:
                continue
            raise
        checks.update(getattr(module, "CHECKS", {}))
    return checks


CHECKS: dict[str, Check] = _collect_checks()


def decide(claim: Claim, ctx: Context) -> Outcome:
    """Run one claim's check; exceptions become an :class:`Undecided` row."""
    try:
        return claim.check(ctx)
    except NotesUnavailable as exc:
        return Undecided("not-available", str(exc))
    except Exception as exc:  # a failing check must not stop the run
        tb = traceback.format_exc(limit=4)
        return Undecided(
            "error",
            f"{type(exc).__name__}: {exc}",
            evidence=(Evidence(kind="text", title="traceback", text=tb),),
        )


#: rough cost in seconds on one core (measured), to start the longest checks first
COST = {
    "N001.rmsprop.alpha": 12.0,
    "N000.sgd.batch": 10.0,
    "N000.sgd.lr1": 5.0,
    "N002.opt.compare": 5.0,
    "N000.sgd.rule": 2.0,
}

Progress = Callable[[int, int, Claim, Outcome, float], None]


def select(only: str | None = None) -> list[Claim]:
    """The claims whose ID starts with ``only`` (all when ``None``; exactly that claim when
    ``only`` is a whole ID), in registry order."""
    if only is not None and only in CLAIMS:
        return [CLAIMS[only]]
    return [c for c in CLAIMS.values() if only is None or c.id.startswith(only)]


def _decide_timed(cid: str, ctx: Context) -> tuple[str, Outcome, float]:
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    out = decide(CLAIMS[cid], ctx)
    return cid, out, time.perf_counter() - start


def decide_all(
    ctx: Context,
    only: str | None = None,
    *,
    jobs: int = 1,
    progress: Progress | None = None,
) -> list[tuple[Claim, Outcome]]:
    """Decide every claim (or those whose ID starts with ``only``); rows in registry order.

    The checks are independent: with ``jobs > 1`` they run in a pool of that many worker
    processes, the costliest first. ``progress(k, n, claim, outcome, seconds)`` is called as
    each one finishes (in completion order).
    """
    claims = select(only)
    done: dict[str, tuple[Outcome, float]] = {}

    def record(cid: str, out: Outcome, seconds: float) -> None:
        done[cid] = (out, seconds)
        if progress is not None:
            progress(len(done), len(claims), CLAIMS[cid], out, seconds)

    if jobs <= 1 or len(claims) <= 1:
        for c in claims:
            record(*_decide_timed(c.id, ctx))
    else:
        order = sorted(claims, key=lambda c: -COST.get(c.id, 0.5))
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context(method)) as pool:
            futures = [pool.submit(_decide_timed, c.id, ctx) for c in order]
            for fut in as_completed(futures):
                record(*fut.result())
    return [(c, done[c.id][0]) for c in claims]
