"""The ``claims`` and ``report`` subcommands: decide every claim and publish the evidence.

``register(subparsers)`` adds both to an argparse subparsers object; each handler takes the
parsed ``args`` and returns an exit code (0 ok, 2 bad input).

Figures: a check asks for a picture by returning ``Evidence(kind="figure", data=...)``.
``data["filename"]`` names the PNG and ``data["plot"]`` picks the renderer:

* ``"trajectories"`` — ``series``: list of ``{label, x, y, printed?: [x1, x2]}`` drawn over
  the contours of 0.1x₁² + 2x₂², printed end points marked ×;
* ``"region"`` — ``curvatures``, ``lr_max``, ``points``: ``[[lr, momentum, label], …]``: the
  heavy-ball spectral radius over (lr, momentum), contour 1 = the stability boundary;
* ``"lines"`` (generic) — ``series``: list of ``{label, x, y}``, optional ``xlabel``,
  ``ylabel``, ``yscale``, ``title``; ``"bars"`` — ``labels``, ``values``, optional ``ylabel``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["default_notes_dir", "register", "run_claims", "run_report"]


def default_notes_dir() -> Path | None:
    """``shared/notes`` next to the checkout, when it exists."""
    cand = Path(__file__).resolve().parents[2] / "shared" / "notes"
    return cand if cand.is_dir() else None


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("optverify")
    except Exception:
        import tomllib

        py = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return str(tomllib.loads(py.read_text())["project"]["version"]) + " (source tree)"
        except Exception:
            return "unknown"


def register(subparsers: Any) -> None:
    """Add ``claims`` and ``report`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "claims", help="decide every claim of the notes and print the verdicts"
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--only", metavar="ID-PREFIX", default=None, help="only claims whose ID starts with this"
    )
    p.add_argument(
        "--notes",
        type=Path,
        default=None,
        help="the notes directory (default: shared/notes next to the checkout)",
    )
    p.set_defaults(func=run_claims)
    r = subparsers.add_parser(
        "report", help="write the citeable report (claims.md, claims.json, figures)"
    )
    r.add_argument("--out", type=Path, required=True, help="output directory")
    r.add_argument("--notes", type=Path, default=None)
    r.add_argument("--only", metavar="ID-PREFIX", default=None)
    r.set_defaults(func=run_report)


def _notes(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    notes = getattr(args, "notes", None)
    if notes is None:
        return default_notes_dir(), None
    if not Path(notes).is_dir():
        return None, f"--notes {notes}: not a directory"
    return Path(notes), None


def _decide(args: argparse.Namespace) -> tuple[list[tuple[Any, Any]], Path | None] | str:
    notes, err = _notes(args)
    if err:
        return err
    from analytic.claims import decide_all
    from analytic.verdict import Context

    return decide_all(Context(notes_dir=notes), getattr(args, "only", None)), notes


def _row(claim: Any, out: Any) -> dict[str, Any]:
    return {
        "id": claim.id,
        "kind": claim.kind,
        "note": claim.note,
        "lines": claim.lines,
        "statement": claim.statement,
        "verdict": out.verdict,
        "summary": out.summary,
        "condition": out.condition,
        "evidence": [asdict(e) for e in out.evidence],
    }


def run_claims(args: argparse.Namespace) -> int:
    """Print every claim with its verdict (text table or JSON list); exit 0."""
    got = _decide(args)
    if isinstance(got, str):
        print(f"optverify claims: {got}", file=sys.stderr)
        return 2
    results, _ = got
    if args.format == "json":
        print(
            json.dumps([_row(c, o) for c, o in results], ensure_ascii=False, indent=1, default=str)
        )
        return 0
    for c, o in results:
        line = f"{c.id:26} {c.kind} {o.verdict:13} {o.summary}"
        if o.condition:
            line += f"  [if: {o.condition}]"
        print(line)
    counts: dict[str, int] = {}
    for _, o in results:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 0


# ---------------------------------------------------------------- figures


def _draw(data: dict[str, Any], path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    kind = data.get("plot")
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    try:
        if kind == "trajectories":
            xs = np.linspace(-5.5, 1.5, 200)
            ys = np.linspace(-3.0, 3.0, 200)
            X, Y = np.meshgrid(xs, ys)
            ax.contour(X, Y, 0.1 * X**2 + 2 * Y**2, levels=12, colors="0.8", linewidths=0.6)
            for k, s in enumerate(data["series"]):
                color = f"C{k}"
                ax.plot(s["x"], s["y"], "-o", ms=3, color=color, label=s["label"])
                if s.get("printed"):
                    px, py = s["printed"]
                    clipped = not (-3.0 <= py <= 3.0)
                    ax.plot([px], [float(np.clip(py, -2.9, 2.9))], "x", ms=12, mew=2.5, color=color)
                    if clipped:
                        ax.annotate(
                            f"printed x₂ = {py:g} (off scale)",
                            (px, float(np.clip(py, -2.9, 2.9))),
                            fontsize=8,
                            color=color,
                        )
            ax.set_xlim(-5.5, 1.5)
            ax.set_ylim(-3.0, 3.0)
            ax.set_xlabel("x₁")
            ax.set_ylabel("x₂")
            ax.legend(fontsize=8)
        elif kind == "region":
            from analytic.learning_rate import stability_grid

            lrs = np.linspace(1e-3, float(data["lr_max"]), 160)
            ms = np.linspace(0.0, 0.995, 120)
            rho = stability_grid(data["curvatures"], lrs, ms)
            im = ax.pcolormesh(lrs, ms, np.minimum(rho, 1.5), shading="auto", cmap="viridis")
            ax.contour(lrs, ms, rho, levels=[1.0], colors="red", linewidths=1.5)
            fig.colorbar(im, ax=ax, label="spectral radius (capped at 1.5); red = 1")
            for lr_, m_, lab in data.get("points", []):
                ax.plot([lr_], [m_], "w*", ms=10, mec="k")
                ax.annotate(
                    lab,
                    (lr_, m_),
                    xytext=(4, 4),
                    textcoords="offset points",
                    fontsize=8,
                    color="white",
                )
            ax.set_xlabel("learning rate")
            ax.set_ylabel("momentum")
        elif kind == "lines":
            for s in data["series"]:
                ax.plot(s["x"], s["y"], label=s.get("label", ""))
            ax.set_xlabel(data.get("xlabel", ""))
            ax.set_ylabel(data.get("ylabel", ""))
            if data.get("yscale"):
                ax.set_yscale(data["yscale"])
            if data.get("xscale"):
                ax.set_xscale(data["xscale"])
            if any(s.get("label") for s in data["series"]):
                ax.legend(fontsize=8)
        elif kind == "bars":
            ax.bar(range(len(data["values"])), data["values"], tick_label=data["labels"])
            ax.set_ylabel(data.get("ylabel", ""))
        else:
            return False
        if data.get("title"):
            ax.set_title(data["title"])
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        return True
    finally:
        plt.close(fig)


# ---------------------------------------------------------------- markdown


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _md_evidence(e: Any, figures: dict[int, str]) -> list[str]:
    out = [f"**{e.title}**" if e.title else ""]
    if e.kind == "sympy":
        if e.latex:
            out.append(f"$$ {e.latex} $$")
        out.append(f"`{e.text}`")
    elif e.kind == "table":
        if e.text:
            out.append(e.text)
        out.append("| " + " | ".join(_cell(c) for c in e.columns) + " |")
        out.append("|" + " --- |" * len(e.columns))
        out.extend("| " + " | ".join(_cell(v) for v in r) + " |" for r in e.rows)
    elif e.kind == "figure":
        name = figures.get(id(e))
        out.append(f"![{e.title}]({name})" if name else f"(figure not drawn: {e.text})")
    elif e.kind == "numbers":
        if e.text:
            out.append(e.text)
        out.extend(f"- {k}: `{v}`" for k, v in e.data.items())
    elif e.kind == "counterexample":
        out.append(e.text)
        if e.data:
            out.append(
                "```\n" + json.dumps(e.data, indent=1, default=str, ensure_ascii=False) + "\n```"
            )
    else:
        out.append(e.text if "\n" not in e.text else "```\n" + e.text + "\n```")
    return [*out, ""]


def run_report(args: argparse.Namespace) -> int:
    """Write claims.md, claims.json and the PNG figures into ``--out``."""
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".optverify-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        print(
            f"optverify report: cannot write to --out {out_dir}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    got = _decide(args)
    if isinstance(got, str):
        print(f"optverify report: {got}", file=sys.stderr)
        return 2
    results, notes = got
    import torch

    stamp = {
        "torch": torch.__version__,
        "optverify": _version(),
        "date": _dt.date.today().isoformat(),
        "notes": str(notes) if notes else "not available",
    }
    figures: dict[int, str] = {}
    for c, o in results:
        for k, e in enumerate(o.evidence):
            if e.kind == "figure" and e.data:
                name = str(e.data.get("filename") or f"{c.id.replace('.', '_')}_{k}.png")
                try:
                    if _draw(e.data, out_dir / name):
                        figures[id(e)] = name
                except Exception as exc:  # a broken figure must not lose the report
                    print(
                        f"optverify report: figure {name} for {c.id} not drawn: {exc}",
                        file=sys.stderr,
                    )
    counts: dict[str, int] = {}
    for _, o in results:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    md = [
        "# Claims of the optimiser notes, decided",
        "",
        (
            f"torch {stamp['torch']} · optverify {stamp['optverify']} · {stamp['date']} "
            f"· notes: {stamp['notes']}"
        ),
        "",
        "Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
        "",
        "| ID | kind | verdict | summary |",
        "| --- | --- | --- | --- |",
    ]
    md += [
        f"| [{c.id}](#{c.id}) | {c.kind} | {o.verdict} | {_cell(o.summary)} |" for c, o in results
    ]
    md.append("")
    for c, o in results:
        md += [
            f'<a id="{c.id}"></a>',
            "",
            f"## {c.id}",
            "",
            f"*{c.statement}* — `{c.note}`, lines {c.lines} (kind {c.kind})",
            "",
            f"**Verdict: {o.verdict}** — {o.summary}",
            "",
        ]
        if o.condition:
            md += [f"**Holds if:** {o.condition}", ""]
        for e in o.evidence:
            md += _md_evidence(e, figures)
    from optverify.bench import render_bench

    speed = render_bench(out_dir)
    if speed:
        md += ["## Per-step speed", "", "Ratios against torch and % of the memory-bandwidth "
               "floor: [bench.md](bench.md).", ""]  # fmt: skip
    (out_dir / "claims.md").write_text("\n".join(md), encoding="utf-8")
    payload = {"stamp": stamp, "claims": [_row(c, o) for c, o in results]}
    (out_dir / "claims.json").write_text(
        json.dumps(payload, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    print(f"wrote {out_dir / 'claims.md'}, claims.json and {len(figures)} figure(s)")
    return 0
