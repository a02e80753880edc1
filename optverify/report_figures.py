"""The report's figures: each check asks for one with ``Evidence(kind="figure", data=...)``.

``data["filename"]`` names the PNG and ``data["plot"]`` picks the renderer:

* ``"trajectories"`` — ``series``: list of ``{label, x, y, printed?: [x1, x2]}`` drawn over
  the contours of 0.1x₁² + 2x₂², printed end points marked ×;
* ``"region"`` — ``curvatures``, ``lr_max``, ``points``: ``[[lr, momentum, label], …]``: the
  heavy-ball spectral radius over (lr, momentum), contour 1 = the stability boundary;
* ``"lines"`` — ``series``: list of ``{label, x, y}``, optional ``xlabel``, ``ylabel``,
  ``xscale``, ``yscale``; on a log y axis a value of exactly 0 is drawn as a marker labelled
  "0" at the foot of the axis (never as a tiny positive number);
* ``"bars"`` — ``labels``, ``values``, optional ``ylabel``.

Every figure is titled with the claim ID and what is plotted, and saved with a tight
bounding box so that no annotation is clipped.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

__all__ = ["draw"]


def _title(claim_id: str, title: str) -> str:
    text = title if title.startswith(claim_id) else f"{claim_id}: {title}"
    return "\n".join(textwrap.wrap(text, 70))


def _lines(ax: Any, data: dict[str, Any]) -> None:
    import numpy as np

    log_y = data.get("yscale") == "log"
    positive = [v for s in data["series"] for v in s["y"] if v > 0]
    floor = min(positive) / 30 if positive else 1e-18
    for k, s in enumerate(data["series"]):
        x = np.asarray(s["x"], dtype=float)
        y = np.asarray(s["y"], dtype=float)
        color = f"C{k}"
        if log_y:
            zero = y == 0
            ax.plot(np.where(zero, np.nan, x), np.where(zero, np.nan, y), "-", color=color,
                    label=s.get("label", ""))  # fmt: skip
            if zero.any():
                ax.plot(x[zero], np.full(zero.sum(), floor), "v", color=color, ms=5,
                        label=f"{s.get('label', '')}: exactly 0")  # fmt: skip
        else:
            ax.plot(x, y, color=color, label=s.get("label", ""))
    ax.set_xlabel(data.get("xlabel", ""))
    ax.set_ylabel(data.get("ylabel", ""))
    if data.get("xscale"):
        ax.set_xscale(data["xscale"])
    if log_y:
        ax.set_yscale("log")
        if any(v == 0 for s in data["series"] for v in s["y"]):
            ticks = [t for t in ax.get_yticks() if t > floor * 10]
            ax.set_ylim(bottom=floor / 2)
            ax.set_yticks([floor, *ticks])
            ax.set_yticklabels(["0", *(f"$10^{{{round(float(np.log10(t)))}}}$" for t in ticks)])
    if any(s.get("label") for s in data["series"]):
        ax.legend(fontsize=7)


def _trajectories(ax: Any, data: dict[str, Any]) -> None:
    import numpy as np

    xs = np.linspace(-5.5, 1.5, 200)
    ys = np.linspace(-3.0, 3.0, 200)
    X, Y = np.meshgrid(xs, ys)
    ax.contour(X, Y, 0.1 * X**2 + 2 * Y**2, levels=12, colors="0.8", linewidths=0.6)
    for k, s in enumerate(data["series"]):
        color = f"C{k}"
        ax.plot(s["x"], s["y"], "-o", ms=3, color=color, label=s["label"])
        if s.get("printed"):
            px, py = s["printed"]
            shown = float(np.clip(py, -2.9, 2.9))
            ax.plot([px], [shown], "x", ms=12, mew=2.5, color=color)
            if shown != py:
                ax.annotate(
                    f"printed x₂ = {py:g}\n(off scale)",
                    (px, shown),
                    xytext=(-8, -14 if shown > 0 else 14),
                    textcoords="offset points",
                    ha="right",
                    va="center",
                    fontsize=8,
                    color=color,
                    bbox={"fc": "white", "ec": "none", "alpha": 0.85},
                )
    ax.set_xlim(-5.5, 1.5)
    ax.set_ylim(-3.0, 3.0)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.legend(fontsize=8, loc="upper left")


def _region(fig: Any, ax: Any, data: dict[str, Any]) -> None:
    import numpy as np

    from optverify.analytic.learning_rate import stability_grid

    lr_max = float(data["lr_max"])
    lrs = np.linspace(1e-3, lr_max, 160)
    ms = np.linspace(0.0, 0.995, 120)
    rho = stability_grid(data["curvatures"], lrs, ms)
    im = ax.pcolormesh(lrs, ms, np.minimum(rho, 1.5), shading="auto", cmap="viridis")
    ax.contour(lrs, ms, rho, levels=[1.0], colors="red", linewidths=1.5)
    fig.colorbar(im, ax=ax, label="contraction per step (capped at 1.5); red: 1")
    for lr_, m_, lab in data.get("points", []):
        ax.plot([lr_], [m_], "w*", ms=10, mec="k")
        right = lr_ > 0.7 * lr_max
        top = m_ > 0.85
        ax.annotate(
            lab,
            (lr_, m_),
            xytext=(-4 if right else 4, -10 if top else 4),
            textcoords="offset points",
            ha="right" if right else "left",
            fontsize=8,
            color="white",
        )
    ax.set_xlabel("learning rate")
    ax.set_ylabel("momentum")


def draw(claim_id: str, title: str, data: dict[str, Any], path: Path) -> bool:
    """Render ``data`` into ``path`` (PNG); False when the plot kind is unknown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kind = data.get("plot")
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    try:
        if kind == "trajectories":
            _trajectories(ax, data)
        elif kind == "region":
            _region(fig, ax, data)
        elif kind == "lines":
            _lines(ax, data)
        elif kind == "bars":
            ax.bar(range(len(data["values"])), data["values"], tick_label=data["labels"])
            ax.set_ylabel(data.get("ylabel", ""))
        else:
            return False
        ax.set_title(_title(claim_id, data.get("title") or title), fontsize=9)
        fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.15)
        return True
    finally:
        plt.close(fig)
