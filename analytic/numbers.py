"""N claims: recompute every number the notes print and compare it, digit for digit and in
the same formatting, with the printed text.

Each reproduction re-implements the notes' own arithmetic (Python floats for the d2l
``train_2d`` traces of note 004, float32 torch tensors where the notes use torch), formats
the result the way the notes' ``print`` does, and compares the strings. When the notes are
available, each printed string is also confirmed to appear on its cited line.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy
import torch

from optverify.analytic._common import NotesUnavailable, note_lines, table, text
from optverify.analytic.verdict import Context, Evidence, Verdict

__all__ = ["CHECKS", "TRAJECTORIES", "trajectory"]

N003 = "003"
N004 = "004"

Step2D = Callable[[float, float, float, float, dict[str, float]], tuple[float, float, float, float]]


def _gd(
    x1: float, x2: float, s1: float, s2: float, h: dict[str, float]
) -> tuple[float, float, float, float]:
    """Note 004 lines 554-555: ``(x1 - eta*0.2*x1, x2 - eta*4*x2, 0, 0)``."""
    eta = h["eta"]
    return (x1 - eta * 0.2 * x1, x2 - eta * 4 * x2, 0, 0)


def _momentum(
    x1: float, x2: float, v1: float, v2: float, h: dict[str, float]
) -> tuple[float, float, float, float]:
    """Note 004 lines 620-623: ``v ← βv + η∇f``, ``x ← x − v``."""
    eta, beta = h["eta"], h["beta"]
    v1 = beta * v1 + eta * 0.2 * x1
    v2 = beta * v2 + eta * 4 * x2
    return x1 - v1, x2 - v2, v1, v2


def _adagrad(
    x1: float, x2: float, s1: float, s2: float, h: dict[str, float]
) -> tuple[float, float, float, float]:
    """Note 004 lines 860-866: ``s += g²``, ``x -= η/√(s+ε)·g`` with ε = 1e-6."""
    eta = h["eta"]
    g1, g2, eps = 0.2 * x1, 4 * x2, 1e-6
    s1 += g1**2
    s2 += g2**2
    x1 -= eta / math.sqrt(s1 + eps) * g1
    x2 -= eta / math.sqrt(s2 + eps) * g2
    return x1, x2, s1, s2


def _rmsprop(
    x1: float, x2: float, s1: float, s2: float, h: dict[str, float]
) -> tuple[float, float, float, float]:
    """Note 004 lines 988-994: ``s ← βs + (1−β)g²``, ``x -= α/√(s+ε)·g`` with ε = 1e-6."""
    alpha, beta = h["alpha"], h["beta"]
    g1, g2, eps = 0.2 * x1, 4 * x2, 1e-6
    s1 = beta * s1 + (1 - beta) * g1**2
    s2 = beta * s2 + (1 - beta) * g2**2
    x1 -= alpha / math.sqrt(s1 + eps) * g1
    x2 -= alpha / math.sqrt(s2 + eps) * g2
    return x1, x2, s1, s2


def trajectory(step: Step2D, hyper: dict[str, float], steps: int = 20) -> list[tuple[float, float]]:
    """d2l ``train_2d``: start at (−5, −2) with zero state and apply ``step`` 20 times."""
    x1, x2, s1, s2 = -5.0, -2.0, 0.0, 0.0
    out = [(x1, x2)]
    for _ in range(steps):
        x1, x2, s1, s2 = step(x1, x2, s1, s2, hyper)
        out.append((x1, x2))
    return out


#: (claim, label, step, hyper, printed line, note line) for every printed 20-step trace.
TRAJECTORIES: tuple[tuple[str, str, Step2D, dict[str, float], str, int], ...] = (
    ("N004.gd.traj", "GD η=0.4", _gd, {"eta": 0.4}, "epoch 20, x1 -0.943467, x2 -0.000073", 560),
    ("N004.gd.traj", "GD η=0.6", _gd, {"eta": 0.6}, "epoch 20, x1 -0.387814, x2 -1673.365109", 581),
    (
        "N004.mom.traj",
        "momentum η=0.4, β=0.5",
        _momentum,
        {"eta": 0.4, "beta": 0.5},
        "epoch 20, x1 -0.062843, x2 0.001202",
        629,
    ),
    (
        "N004.mom.traj",
        "momentum η=0.6, β=0.5",
        _momentum,
        {"eta": 0.6, "beta": 0.5},
        "epoch 20, x1 0.007188, x2 0.002553",
        644,
    ),
    (
        "N004.adagrad.traj",
        "AdaGrad η=0.4",
        _adagrad,
        {"eta": 0.4},
        "epoch 20, x1 -2.382563, x2 -0.158591",
        875,
    ),
    (
        "N004.adagrad.traj",
        "AdaGrad η=2",
        _adagrad,
        {"eta": 2},
        "epoch 20, x1 -0.002295, x2 -0.000000",
        890,
    ),
    (
        "N004.rmsprop.traj",
        "RMSProp α=0.4, β=0.9",
        _rmsprop,
        {"alpha": 0.4, "beta": 0.9},
        "epoch 20, x1 -0.010599, x2 0.000000",
        1003,
    ),
)


def trajectory_figure(claim: str) -> Evidence:
    """Figure evidence: the recomputed 2-D traces of ``claim`` with the printed end points."""
    series = []
    for cid, label, step, hyper, printed, _ in TRAJECTORIES:
        if cid != claim:
            continue
        pts = trajectory(step, hyper)
        nums = [float(v) for v in printed.replace(",", " ").split()[3::2]]
        series.append(
            {"label": label, "x": [p[0] for p in pts], "y": [p[1] for p in pts], "printed": nums}
        )
    name = claim.replace(".", "_")
    return Evidence(
        kind="figure",
        title=f"{claim}: 20-step trajectories (x₁, x₂) on f = 0.1x₁² + 2x₂² (× = printed end)",
        text=f"{name}.png",
        data={"plot": "trajectories", "filename": f"{name}.png", "series": series},
    )


def _on_line(ctx: Context, note: str, lineno: int, printed: str) -> str:
    """Whether ``printed`` appears on line ``lineno`` of the note (a transcription guard)."""
    try:
        lines = note_lines(ctx, note)
    except NotesUnavailable:
        return "notes not available"
    if lineno <= len(lines) and printed in lines[lineno - 1]:
        return "yes"
    return "NO"


def _verdict(rows: list[tuple[Any, ...]], what: str, extra: tuple[Evidence, ...] = ()) -> Verdict:
    """holds iff every recomputed string equals the printed one (and no line check says NO)."""
    cols = ("case", "printed", "recomputed", "equal", "on cited line")
    ok = all(r[3] for r in rows) and all(r[4] != "NO" for r in rows)
    bad = [r[0] for r in rows if not r[3]]
    summary = (
        f"all {len(rows)} printed {what} reproduce digit for digit"
        if ok
        else f"{what} differ for: {', '.join(bad) or 'a printed line not found where cited'}"
    )
    ev = (table("printed vs recomputed", cols, rows), *extra)
    return Verdict("holds" if ok else "fails", summary, evidence=ev)


def _traj_check(claim: str) -> Callable[[Context], Verdict]:
    def check(ctx: Context) -> Verdict:
        rows = []
        for cid, label, step, hyper, printed, lineno in ctx.given("trajectories", TRAJECTORIES):
            if cid != claim:
                continue
            x1, x2 = trajectory(step, hyper)[-1]
            ours = "epoch %d, x1 %f, x2 %f" % (20, x1, x2)  # noqa: UP031 -- the d2l print format
            rows.append(
                (label, printed, ours, ours == printed, _on_line(ctx, N004, lineno, printed))
            )
        return _verdict(rows, "20-step end points", (trajectory_figure(claim),))

    check.__doc__ = (
        f"{claim}: reproduce the note-004 20-step trace(s) with the note's own step rule."
    )
    return check


def check_lr_diverge(ctx: Context) -> Verdict:
    """N003.lr.diverge (note 003 lines 19-25): GD x ← x − f'(x) on f = 4x² from x₀ = 2.

    Recomputed with the note's float32 torch code (lines 43-95, lr = 1): x₁ = 2 − 16 = −14,
    y₁ = 4·196 = 784, x₂ = −14 + 112 = 98, y₂ = 4·9604 = 38416, gradients 16, −112, 784.
    """
    x = torch.tensor([2.0], requires_grad=True)
    got: dict[str, float] = {}
    for i in range(3):
        y = torch.pow(2 * x, 2)
        y.backward()
        assert x.grad is not None
        got[f"x{i}"], got[f"y{i}"], got[f"f'(x{i})"] = x.item(), y.item(), x.grad.item()
        x.data.sub_(1.0 * x.grad)
        x.grad.zero_()
    # (quantity, printed digits, cited line, the text that shows them on that line)
    printed = ctx.given("printed", (
        ("y0", "16", 20, "y_0 = 16"),
        ("f'(x0)", "16", 20, "f'(x_0) = 16"),
        ("x1", "-14", 21, "= -14"),
        ("y1", "784", 21, "y_1 = 784"),
        ("f'(x1)", "-112", 21, "f'(x_1) = -112"),
        ("x2", "98", 22, "= 98"),
        ("y2", "38416", 22, "y_2 = 38416"),
        ("f'(x2)", "784", 22, "f'(x_2) = 784"),
    ))  # fmt: skip
    rows = []
    for key, p, lineno, shown in printed:
        ours = f"{got[key]:g}"
        rows.append((key, p, ours, ours == p, _on_line(ctx, N003, lineno, shown)))
    return _verdict(rows, "iterates")


def check_ema_sum(ctx: Context) -> Verdict:
    """N003.ema.sum (note 003 lines 233-256): what ``print(np.sum(weights))`` prints for the
    note's weights (1 − β)βᵗ, t = 0..99, β = 0.9, and whether the weights sum to about one.

    The note prints the sum but shows no output, and says nothing about its value beyond the
    plot's label ``y = B^t * (1-B)``. The check runs the note's expression in numpy (the
    printed string is reported) and decides the claim "the exponential weights sum to about
    one" as: the printed value rounds to 1 at four decimals (|1 − sum| < 5e-5). The exact
    value 1 − β^N (sympy rationals) is evidence of the digits, not the decision.

    Inputs: ``beta`` (0.9), ``points`` (100).
    """
    beta = float(ctx.given("beta", 0.9))
    n = int(ctx.given("points", 100))
    weights = [(1 - beta) * np.power(beta, e) for e in np.arange(n).tolist()]
    printed_by_numpy = str(np.sum(weights))
    value = float(np.sum(weights))
    exact = 1 - sympy.Rational(str(beta)) ** n
    shown = "not shown"
    try:
        lines = note_lines(ctx, N003)
        shown = (
            "not shown"
            if "print(np.sum(weights))" in lines[255] and "0.9999" not in "\n".join(lines[255:270])
            else "shown"
        )
    except NotesUnavailable:
        shown = "notes not available"
    about_one = abs(1 - value) < 5e-5
    rows = ((f"np.sum(weights), β = {beta}, {n} points", shown, printed_by_numpy,
             f"1 − β^{n} = {float(exact):.17g}", f"{1 - value:.3g}", about_one),)  # fmt: skip
    ev = (
        table(
            "what the note's code prints",
            ("case", "printed in note", "numpy prints", "exact value", "1 − sum", "about one"),
            rows,
        ),
        text("decision", "'about one': the printed sum rounds to 1.0000 (|1 − sum| < 5e-5)."),
    )
    if not about_one:
        return Verdict(
            "fails",
            f"the note's code prints {printed_by_numpy}: the weights do not sum to about one "
            f"(1 − β^N = {float(exact):.4g} for N = {n})",
            evidence=ev,
        )
    return Verdict(
        "holds",
        f"the note's code prints {printed_by_numpy} (= 1 − 0.9¹⁰⁰ up to rounding; the note "
        "shows no output): about one, 2.7e-5 below it",
        evidence=ev,
    )


def check_autograd_mean(ctx: Context) -> Verdict:
    """N002.autograd.mean (note 002 lines 99-108): mean([[1,2],[3,4]]²) = (1+4+9+16)/4 = 7.5."""
    t = torch.FloatTensor(ctx.given("x", [[1, 2], [3, 4]]))
    ours = f"{torch.mean(t * t).item():g}"
    rows = [
        ("t_out", "7.5", ours, ours == "7.5", _on_line(ctx, "002", 107, "7.5")),
        ("v_out", "7.5", ours, ours == "7.5", _on_line(ctx, "002", 108, "7.5")),
    ]
    return _verdict(rows, "means")


def check_bce(ctx: Context) -> Verdict:
    """N004.w2v.bce (note 004 lines 396-413): the masked sigmoid BCE example.

    Row 1: logits (1.5, 0.3, −1, 2), labels (1, 0, 0, 0), mask all ones: the loss is
    [−log σ(1.5) − log σ(−0.3) − log σ(1) − log σ(−2)]/4 (because 1 − σ(x) = σ(−x)).
    Row 2: logits (1.1, −0.6, 2.2, 0.4), labels (1, 1, 0, 0), mask (1, 1, 1, 0):
    [−log σ(1.1) − log σ(−0.6) − log σ(−2.2)]/3. The note prints neither result, so the
    class-based value (``binary_cross_entropy_with_logits`` with ``weight=mask``) is compared
    with the note's hand formula in the note's ``'%.4f'`` format.
    """
    pred = torch.tensor([[1.5, 0.3, -1, 2], [1.1, -0.6, 2.2, 0.4]])
    label = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0]]).float()
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]).float()
    res = torch.nn.functional.binary_cross_entropy_with_logits(
        pred, label, reduction="none", weight=mask
    )
    res = res.sum(dim=1) / mask.sum(dim=1)

    def sigmd(x: float) -> float:
        return -math.log(1 / (1 + math.exp(-x)))

    hand = ctx.given("hand", [
        (sigmd(1.5) + sigmd(-0.3) + sigmd(1) + sigmd(-2)) / 4,
        (sigmd(1.1) + sigmd(-0.6) + sigmd(-2.2)) / 3,
    ])  # fmt: skip
    rows = []
    for i in range(2):
        a, b = "%.4f" % res[i].item(), "%.4f" % hand[i]  # noqa: UP031 -- the note\'s format
        rows.append((f"row {i + 1}", "not shown (hand formula: " + b + ")", a, a == b, "n/a"))
    ok = all(r[3] for r in rows)
    ev = (
        table(
            "loss class vs the note's hand formula ('%.4f')",
            ("case", "printed", "recomputed", "equal", "on cited line"),
            rows,
        ),
        text(
            "caveat",
            "The docstring calls `inputs` probabilities 'after the sigmoid', "
            "but the code treats them as logits "
            "(binary_cross_entropy_with_logits); the hand check confirms "
            "the logit reading. `mask=None` "
            "(the default) would crash at `mask.float()`.",
        ),
    )
    return Verdict(
        "holds" if ok else "fails",
        f"both rows agree: {rows[0][2]} and {rows[1][2]} (the note prints no output to compare)"
        if ok
        else "the loss class and the hand formula disagree",
        evidence=ev,
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N003.lr.diverge": check_lr_diverge,
    "N003.ema.sum": check_ema_sum,
    "N002.autograd.mean": check_autograd_mean,
    "N004.w2v.bce": check_bce,
    "N004.gd.traj": _traj_check("N004.gd.traj"),
    "N004.mom.traj": _traj_check("N004.mom.traj"),
    "N004.adagrad.traj": _traj_check("N004.adagrad.traj"),
    "N004.rmsprop.traj": _traj_check("N004.rmsprop.traj"),
}
