"""The ``claims`` and ``report`` subcommands: decide every claim and publish the evidence.

``register(subparsers)`` adds both to an argparse subparsers object; each handler takes the
parsed ``args`` and returns an exit code: 0 every selected claim decided, 1 not decided (the
notes were not found, or a check raised), 2 bad input (one line on stderr).

The notes are input: ``--notes DIR``, else ``$OPTVERIFY_NOTES``; without them nothing is
decided (exit 1, ``not decided: notes not found; pass --notes``). Both commands say on stderr
which notes they use and print one progress line per claim as it is decided; independent
claims are decided in parallel (``--jobs``, default 2 worker processes).

The report (``--out DIR``) holds ``claims.md``, ``claims.json``, ``index.html`` (self-contained)
and the figures' PNGs; see :mod:`optverify.report_md`, :mod:`optverify.report_html`,
:mod:`optverify.report_figures` and :mod:`optverify.report_stamp`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from html import escape
from pathlib import Path
from typing import Any

__all__ = ["register", "run_claims", "run_frameworks", "run_report"]


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--notes",
        type=Path,
        default=None,
        metavar="DIR",
        help="the notes directory (default: $OPTVERIFY_NOTES); required",
    )
    p.add_argument(
        "--only", metavar="ID-PREFIX", default=None, help="only claims whose ID starts with this"
    )
    p.add_argument(
        "--jobs", type=int, default=2, help="worker processes deciding claims (default 2)"
    )


def register(subparsers: Any) -> None:
    """Add ``claims`` and ``report`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "claims", help="decide every claim of the notes and print the verdicts"
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    _add_common(p)
    p.set_defaults(func=run_claims)
    r = subparsers.add_parser(
        "report", help="write the citeable report (claims.md, claims.json, index.html, figures)"
    )
    r.add_argument("--out", type=Path, default=None,
                   help="output directory (required, except with --history)")  # fmt: skip
    r.add_argument("--history", type=Path, default=None, metavar="DIR",
                   help="instead: the version x defect table of torch's history from DIR's "
                   "VERSION.json files (python -m optverify.history run); history.md into "
                   "--out when given, else to stdout")  # fmt: skip
    r.add_argument(
        "--frameworks",
        action="store_true",
        help="write the cross-framework table (optax and Keras against torch.optim: "
        "frameworks.md, frameworks.json) instead of the claims",
    )
    r.add_argument(
        "--max-examples",
        type=int,
        default=20,
        metavar="N",
        help="examples per library optimiser for --frameworks (default 20)",
    )
    r.add_argument("--seed", type=int, default=0, help="seed for --frameworks (default 0)")
    _add_common(r)
    r.set_defaults(func=run_report)


def run_frameworks(out_dir: Path, max_examples: int, seed: int) -> int:
    """Write the cross-framework table into ``out_dir``; 0 (its rows are findings, not
    failures of the report)."""
    from optverify.frameworks import compute_rows, render_json, render_markdown

    rows = compute_rows(max_examples=max_examples, seed=seed)
    (out_dir / "frameworks.md").write_text(render_markdown(rows), encoding="utf-8")
    (out_dir / "frameworks.json").write_text(
        json.dumps(render_json(rows), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    for row in rows:
        print(f"{row.target:<24} {row.counterpart:<10} {row.verdict}", file=sys.stderr)
    print(f"optverify report: wrote {out_dir / 'frameworks.md'} ({len(rows)} rows)",
          file=sys.stderr)  # fmt: skip
    return 0


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
        "outside": getattr(out, "outside", ""),
        "evidence": [asdict(e) for e in out.evidence],
    }


def _progress(k: int, n: int, claim: Any, out: Any, seconds: float) -> None:
    print(f"[{k:>2}/{n}] {claim.id:<26} {out.verdict:<9} {seconds:6.1f} s", file=sys.stderr,
          flush=True)  # fmt: skip


def _decide(args: argparse.Namespace, prog: str) -> tuple[list[tuple[Any, Any]], Path] | int:
    """Resolve the notes and the selection, then decide; an exit code on failure."""
    from optverify.report_stamp import NotesNotFound, resolve_notes

    try:
        notes, origin = resolve_notes(args.notes)
    except NotADirectoryError as exc:
        print(f"optverify {prog}: {exc}", file=sys.stderr)
        return 2
    except NotesNotFound as exc:
        print(f"optverify {prog}: {exc}", file=sys.stderr)
        return 1
    if args.jobs < 1:
        print(f"optverify {prog}: --jobs {args.jobs}: must be at least 1", file=sys.stderr)
        return 2
    from optverify.analytic.claims import decide_all, select

    selected = select(args.only)
    if not selected:
        print(f"optverify {prog}: --only {args.only}: no claim ID starts with it",
              file=sys.stderr)  # fmt: skip
        return 2
    from optverify.analytic.verdict import Context

    print(
        f"optverify {prog}: notes {notes} (from {origin}); deciding {len(selected)} claim(s) "
        f"with {args.jobs} worker(s)",
        file=sys.stderr,
        flush=True,
    )
    start = time.perf_counter()
    results = decide_all(Context(notes_dir=notes), args.only, jobs=args.jobs, progress=_progress)
    print(f"optverify {prog}: decided in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return results, notes


def _undecided(results: list[tuple[Any, Any]]) -> int:
    return sum(o.verdict not in ("holds", "fails", "holds-if") for _, o in results)


def run_claims(args: argparse.Namespace) -> int:
    """Print every selected claim with its verdict (text table or JSON list)."""
    got = _decide(args, "claims")
    if isinstance(got, int):
        return got
    results, _ = got
    if args.format == "json":
        rows = [_row(c, o) for c, o in results]
        print(json.dumps(rows, ensure_ascii=False, indent=1, default=str))
    else:
        for c, o in results:
            line = f"{c.id:26} {c.kind} {o.verdict:9} {o.summary}"
            if o.condition:
                line += f"  [if: {o.condition}]"
            print(line)
        counts: dict[str, int] = {}
        for _, o in results:
            counts[o.verdict] = counts.get(o.verdict, 0) + 1
        print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 1 if _undecided(results) else 0


def _speed(out_dir: Path) -> tuple[list[str], str]:
    """The speed section, only when the benchmark results say where and when they ran."""
    from optverify import bench

    source = bench.latest_results()
    if source is None:
        return [], ""
    try:
        raw = json.loads(source.read_text())
        info, when = raw["machine_info"], raw["datetime"]
        where = f"{info.get('node', '?')} ({info.get('cpu', {}).get('brand_raw', '?')}, " \
                f"{info.get('cpu', {}).get('count', '?')} CPUs)"  # fmt: skip
    except (OSError, ValueError, KeyError, AttributeError):
        return [], ""
    if not bench.render_bench(out_dir):
        return [], ""
    text = (
        f"Measured on {where}, {when}, from `{source}`: ratios against torch and % of the "
        "memory-bandwidth floor in bench.md."
    )
    md = ["## Per-step speed", "", text.replace("bench.md", "[bench.md](bench.md)"), ""]
    html = f'<section id="speed"><h2>Per-step speed</h2><p>{escape(text)}</p></section>'
    return md, html


def run_report(args: argparse.Namespace) -> int:
    """Write claims.md, claims.json, index.html and the PNG figures into ``--out``."""
    if getattr(args, "history", None) is not None:
        from optverify.history_report import run_history_report

        return run_history_report(args.history, args.out)
    if args.out is None:
        print("optverify report: --out DIR is required (or --history DIR)", file=sys.stderr)
        return 2
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
    if getattr(args, "frameworks", False):
        if args.max_examples < 1:
            print(f"optverify report: --max-examples {args.max_examples}: must be at least 1",
                  file=sys.stderr)  # fmt: skip
            return 2
        return run_frameworks(out_dir, args.max_examples, args.seed)
    got = _decide(args, "report")
    if isinstance(got, int):
        return got
    results, notes = got
    from optverify.analytic.empirical import SEEDS
    from optverify.report_figures import draw
    from optverify.report_html import render_html
    from optverify.report_md import render_markdown
    from optverify.report_stamp import quote, stamp

    stamped = stamp(notes, {"differential sweeps": [0], "empirical runs": list(SEEDS)})
    figures: dict[int, str] = {}
    for c, o in results:
        for k, e in enumerate(o.evidence):
            if e.kind == "figure" and e.data:
                name = str(e.data.get("filename") or f"{c.id.replace('.', '_')}_{k}.png")
                try:
                    if draw(c.id, e.title, e.data, out_dir / name):
                        figures[id(e)] = name
                except Exception as exc:  # a broken figure must not lose the report
                    print(f"optverify report: figure {name} for {c.id} not drawn: {exc}",
                          file=sys.stderr)  # fmt: skip
    quotes = {c.id: quote(c, notes) for c, _ in results}
    speed_md, speed_html = _speed(out_dir)
    md = render_markdown(results, stamped, figures, quotes, speed_md)
    (out_dir / "claims.md").write_text(md, encoding="utf-8")
    html = render_html(results, stamped, figures, quotes, out_dir, speed_html)
    (out_dir / "index.html").write_text(html, encoding="utf-8")
    payload = {"stamp": stamped, "claims": [_row(c, o) for c, o in results]}
    (out_dir / "claims.json").write_text(
        json.dumps(payload, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    print(f"wrote {out_dir / 'claims.md'}, claims.json, index.html and {len(figures)} figure(s)")
    return 1 if _undecided(results) else 0
