r"""The E claims: statements about training behaviour, decided on data generated in code.

The data, the networks, the training loop and the statistics (every comparison paired over
five seeds, an effect holding when it has the claimed sign in every seed and its mean
exceeds three standard errors) are in :mod:`optverify.analytic.training`; this module holds
the four checks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from optverify.analytic.training import (
    HIDDEN,
    K_SE,
    N_TRAIN,
    SEEDS,
    SIDE,
    OptFactory,
    digits,
    noise,
    paired,
    parabola,
    rebounds,
    tail,
    train,
)
from optverify.analytic.verdict import Context, Evidence, Verdict
from optverify.optimizers import notes

__all__ = ["CHECKS", "K_SE", "SEEDS", "SIDE", "digits", "noise", "paired"]


def _digits_set(seed: int) -> tuple[Tensor, Tensor]:
    return digits(N_TRAIN, seed)


_ce = nn.functional.cross_entropy
_mse = nn.functional.mse_loss


def _data_evidence(what: str) -> Evidence:
    return Evidence(
        kind="text",
        title="data",
        text=(
            "Generated in code, no download: "
            + (
                f"synthetic MNIST-like digits (analytic.empirical.digits: {N_TRAIN} images "
                f"{SIDE}×{SIDE} in [−1, 1], 10 classes), MLP {SIDE * SIDE}→{HIDDEN} ReLU→10, "
                "cross-entropy."
                if what == "digits"
                else "note 002's parabola (1000 points, y = x² + 0.1·N(0,1)), net 1→20 ReLU→1, "
                "MSE, batch 32, 12 epochs, lr 0.01."
            )
            + f" Seeds {list(SEEDS)}; margin: every seed, and mean > {K_SE:g} SE."
        ),
    )


def _timed(fn: Callable[[Context], Verdict]) -> Callable[[Context], Verdict]:
    def check(ctx: Context) -> Verdict:
        start = time.perf_counter()
        verdict = fn(ctx)
        seconds = time.perf_counter() - start
        timing = Evidence(
            kind="numbers",
            title="run time",
            data={"seconds": round(seconds, 2), "threads": torch.get_num_threads()},
        )
        return Verdict(
            verdict.verdict, verdict.summary, verdict.condition, (*verdict.evidence, timing)
        )

    check.__name__ = fn.__name__
    check.__doc__ = fn.__doc__
    return check


# --------------------------------------------------------------------------------------------
# The checks


def _sgd(lr: float) -> OptFactory:
    return lambda params: notes.Note000SGD(params, lr=lr)


def check_sgd_lr1(ctx: Context) -> Verdict:
    """N000.sgd.lr1: lr 1.0 makes the loss rebound and end higher than lr 0.01 (``sgd_update``)."""
    big, small = ctx.given("lrs", (1.0, 0.01))
    rows = []
    rebound_diff, final_diff, dead = [], [], []
    for seed in ctx.given("seeds", SEEDS):
        x, y = _digits_set(seed)
        curves = {
            lr: train(_sgd(lr), x, y, _ce, hidden=HIDDEN, seed=seed, steps=300, batch=64, every=10)
            for lr in (big, small)
        }
        r1, r001 = rebounds(curves[big].full_losses), rebounds(curves[small].full_losses)
        f1, f001 = tail(curves[big].full_losses), tail(curves[small].full_losses)
        rebound_diff.append(r1 - r001)
        final_diff.append(f1 - f001)
        dead.append(curves[big].dead)
        rows.append((seed, f"{r1:.2f}", f"{r001:.2f}", f"{f1:.4g}", f"{f001:.4g}",
                     f"{curves[big].dead:.0%}", f"{curves[small].dead:.0%}"))  # fmt: skip
    bounce, worse = paired(rebound_diff), paired(final_diff)
    evidence: tuple[Evidence, ...] = (
        _data_evidence("digits"),
        Evidence(
            kind="table",
            title="sgd_update, batch 64, 300 steps; whole-set loss every 10 steps",
            columns=(
                "seed",
                f"rebounds lr={big:g}",
                f"rebounds lr={small:g}",
                f"final loss lr={big:g}",
                f"final loss lr={small:g}",
                f"dead ReLUs lr={big:g}",
                f"dead ReLUs lr={small:g}",
            ),
            rows=tuple(rows),
            text="rebounds: fraction of 10-step intervals where the whole-set loss rose; final "
            "loss: mean of the last 5 evaluations; dead ReLUs: hidden units that output 0 on "
            "every training image after the last step.",
        ),
        Evidence(
            kind="numbers",
            title="paired effects (lr=1 minus lr=0.01)",
            data={"rebounds": bounce.text(), "final loss": worse.text()},
        ),
    )
    ok = bounce.significant and worse.significant
    parts = (
        f"rebound fraction higher with lr={big:g} ({bounce.text()}); "
        f"final loss higher with lr={big:g} ({worse.text()})"
    )
    n_dead = sum(d >= 0.999 for d in dead)
    honest = (
        f" Caveat: with lr={big:g} every hidden ReLU is dead at the end in {n_dead}/{len(dead)} "
        f"seeds (loss ≈ ln 10 = {math.log(10):.3f}, a constant predictor): there the rebounds "
        "are the jitter of the output bias, not the bouncing of a network that learns."
        if n_dead
        else ""
    )
    evidence = (
        *evidence,
        Evidence(
            kind="text",
            title="what the rebounds measure",
            text=honest.strip() or "no seed has a dead network.",
        ),
    )
    return Verdict(
        "holds" if ok else "fails",
        (f"With lr={big:g} the loss keeps rebounding and ends higher: " if ok else "Not shown: ")
        + parts
        + "."
        + honest,
        evidence=evidence,
    )


def check_sgd_batch(ctx: Context) -> Verdict:
    """N000.sgd.batch: batch size 1 gives a much noisier loss curve than batch size 64."""
    factor = 2.0
    rows, log_ratios = [], []
    b_small, b_big = ctx.given("batches", (1, 64))
    for seed in ctx.given("seeds", SEEDS):
        x, y = _digits_set(seed)
        n = {
            b: noise(
                train(
                    _sgd(1e-2), x, y, _ce, hidden=HIDDEN, seed=seed, steps=600, batch=b, every=600
                ).batch_losses
            )
            for b in (b_small, b_big)
        }
        ratio = n[b_small] / n[b_big]
        log_ratios.append(math.log(ratio) - math.log(factor))
        rows.append((seed, f"{n[b_small]:.3f}", f"{n[b_big]:.3f}", f"{ratio:.2f}"))
    effect = paired(log_ratios)
    evidence = (
        _data_evidence("digits"),
        Evidence(
            kind="table",
            title="sgd_update lr 0.01, 600 steps: noise of the mini-batch loss curve",
            columns=("seed", f"noise batch {b_small}", f"noise batch {b_big}", "ratio"),
            rows=tuple(rows),
            text="noise: standard deviation of log10(mini-batch loss) around its 25-step "
            "centred moving average, after the first 50 steps (the wiggle of the notes' "
            "semilogy plots).",
        ),
        Evidence(
            kind="numbers",
            title=f"paired effect: log(noise ratio) − log {factor:g}",
            data={"effect": effect.text()},
        ),
    )
    ok = effect.significant
    return Verdict(
        "holds" if ok else "fails",
        f"Batch size {b_small} {'is' if ok else 'is not shown to be'} more than {factor:g}× "
        f"noisier than batch size {b_big} (noise ratios {', '.join(r[3] for r in rows)}; "
        f"{effect.text()}).",
        evidence=evidence,
    )


def check_rmsprop_alpha(ctx: Context) -> Verdict:
    """N001.rmsprop.alpha: alpha 0.9 vs 0.999 — similar losses, different oscillation; and
    ``torch.optim.RMSprop`` tracks the from-scratch ``rmsprop``."""
    similar_tol, track_tol = 0.05, 0.02
    rows = []
    osc_diffs: list[float] = []
    similar_all, tracks_all = True, True
    a_lo, a_hi = ctx.given("alphas", (0.9, 0.999))
    builtin = ctx.given("builtin", lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=a_lo))
    for seed in ctx.given("seeds", SEEDS):
        x, y = _digits_set(seed)
        kw = {"hidden": HIDDEN, "seed": seed, "steps": 300, "batch": 64, "every": 10}
        c09 = train(lambda p: notes.Note001RMSprop(p, lr=1e-3, alpha=a_lo), x, y, _ce, **kw)
        c0999 = train(lambda p: notes.Note001RMSprop(p, lr=1e-3, alpha=a_hi), x, y, _ce, **kw)
        ctorch = train(builtin, x, y, _ce, **kw)
        f09, f0999 = tail(c09.full_losses), tail(c0999.full_losses)
        start = c09.full_losses[0]
        # the gap between the final losses, as a fraction of the progress made
        gap = abs(f09 - f0999) / (start - min(f09, f0999))
        n09, n0999 = noise(c09.batch_losses), noise(c0999.batch_losses)
        track = max(
            abs(a - b) / start for a, b in zip(ctorch.full_losses, c09.full_losses, strict=True)
        )
        similar_all &= gap <= similar_tol
        tracks_all &= track <= track_tol
        osc_diffs.append(n0999 - n09)
        rows.append(
            (
                seed,
                f"{f09:.4g}",
                f"{f0999:.4g}",
                f"{gap:.3f}",
                f"{n09:.3f}",
                f"{n0999:.3f}",
                f"{track:.3g}",
            )
        )
    osc = paired(osc_diffs)
    osc_neg = paired([-d for d in osc_diffs])
    differ = osc.significant or osc_neg.significant
    # the effect as oriented in the summary and the evidence alike (the noisier alpha minus
    # the other), so both say the same number of positive seeds
    noisier = osc if osc.mean > 0 else osc_neg
    direction = f"alpha {a_hi} noisier" if osc.mean > 0 else f"alpha {a_lo} noisier"
    oriented = (f"noise(α={a_hi}) − noise(α={a_lo})" if osc.mean > 0
                else f"noise(α={a_lo}) − noise(α={a_hi})")  # fmt: skip
    evidence = (
        _data_evidence("digits"),
        Evidence(
            kind="table",
            title="rmsprop lr 1e-3, batch 64, 300 steps",
            columns=(
                "seed",
                "final α=0.9",
                "final α=0.999",
                "gap / progress",
                "noise α=0.9",
                "noise α=0.999",
                "max |torch − notes| / L₀",
            ),
            rows=tuple(rows),
            text=f"similar: the final whole-set losses differ by at most {similar_tol:.0%} of "
            "the loss reduction achieved (L₀ − final); tracks: torch.optim.RMSprop(lr=1e-3, "
            f"alpha=0.9) within {track_tol:.0%} of L₀ of the notes' rmsprop at every "
            "evaluation; noise as in N000.sgd.batch. Both losses go near 0 on this easy set, "
            "so a ratio of final losses would magnify noise.",
        ),
        Evidence(
            kind="numbers",
            title=f"paired effect: {oriented}",
            data={"effect": noisier.text(), "direction": direction},
        ),
    )
    ok = similar_all and differ and tracks_all
    parts = [
        f"final losses similar (gap within {similar_tol:.0%} of the progress in every seed)"
        if similar_all
        else f"final losses differ by more than {similar_tol:.0%} of the progress in some seed",
        f"oscillation {'differs' if differ else 'does not differ significantly'} ({direction}; "
        f"{oriented}: {noisier.text()})",
        f"torch's RMSprop {'tracks' if tracks_all else 'does not track'} the from-scratch one "
        f"(within {track_tol:.0%})",
    ]
    return Verdict("holds" if ok else "fails", "; ".join(parts) + ".", evidence=evidence)


def check_opt_compare(ctx: Context) -> Verdict:
    """N002.opt.compare: on y = x² + noise all four train; Adam and RMSprop beat plain SGD."""
    makers: dict[str, OptFactory] = ctx.given("makers", {
        "SGD": lambda p: torch.optim.SGD(p, lr=0.01),
        "Momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.8),
        "RMSprop": lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9),
        "Adam": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.99)),
    })  # fmt: skip
    steps = 12 * math.ceil(1000 / 32)
    rows = []
    reductions: list[float] = []
    auc: dict[str, list[float]] = {name: [] for name in makers}
    for seed in ctx.given("seeds", SEEDS):
        x, y = parabola(seed)
        row: list[object] = [seed]
        for name, make in makers.items():
            curve = train(make, x, y, _mse, hidden=20, seed=seed, steps=steps, batch=32, every=32)
            full = curve.full_losses
            reductions.append(1 - full[-1] / full[0])
            auc[name].append(sum(full[1:]) / (len(full) - 1))
            row.append(f"{full[0]:.3g}→{full[-1]:.3g}")
        rows.append(tuple(row))
    trains = paired(reductions)
    trains_all = trains.significant
    adam = paired([s - a for s, a in zip(auc["SGD"], auc["Adam"], strict=True)])
    rms = paired([s - r for s, r in zip(auc["SGD"], auc["RMSprop"], strict=True)])
    evidence = (
        _data_evidence("parabola"),
        Evidence(
            kind="table",
            title="whole-set MSE, start → end of 12 epochs",
            columns=("seed", *makers),
            rows=tuple(rows),
            text="trains: the relative reduction 1 − final/initial MSE is positive for every "
            "optimiser in every seed and significant; faster: lower mean MSE over the 12 epoch "
            "ends (area under the curve).",
        ),
        Evidence(
            kind="numbers",
            title="paired effects: mean-MSE(SGD) − mean-MSE(X)",
            data={
                "Adam": adam.text(),
                "RMSprop": rms.text(),
                "trains (relative reduction, all optimisers)": trains.text(),
                "smallest reduction": f"{min(reductions):.3f}",
            },
        ),
    )
    ok = trains_all and adam.significant and rms.significant
    summary = (
        f"all four {'train' if trains_all else 'do not all train'} (MSE falls in every run, "
        f"smallest relative reduction {min(reductions):.2f}); "
        f"Adam {'beats' if adam.significant else 'does not significantly beat'} SGD "
        f"({adam.text()}); RMSprop {'beats' if rms.significant else 'does not significantly beat'} "
        f"SGD ({rms.text()})."
    )
    return Verdict("holds" if ok else "fails", summary, evidence=evidence)


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N000.sgd.lr1": _timed(check_sgd_lr1),
    "N000.sgd.batch": _timed(check_sgd_batch),
    "N001.rmsprop.alpha": _timed(check_rmsprop_alpha),
    "N002.opt.compare": _timed(check_opt_compare),
}
