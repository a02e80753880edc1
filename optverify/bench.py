"""Per-step benchmark results as ratios: tables, the regression gate, the report figure.

Input: pytest-benchmark's JSON from ``tests/bench`` (``--benchmark-json``). Every benchmark
carries ``extra_info`` with its ``case``, ``size``, ``impl`` and ``bytes_per_element``; the
``reference`` rows time ``a.add_(b, alpha=s)`` (12 bytes per element) on the same sizes in
the same run. The figures are ratios, never absolute times:

* **ours ÷ torch best** — the time of one of our implementations over the fastest of
  torch's (for-loop, foreach, fused) for the same case and size (< 1: ours is faster);
* **% of floor** — the bandwidth floor (reference time x bytes per element / 12) over the
  implementation's time (100 % = as fast as one pass of the reference over the same bytes).

Times are the *minimum* over rounds: on a shared machine interference only ever adds time,
so the minimum is the most reproducible estimate of what the code costs.

The gate compares ``ours ÷ torch best`` with the committed baseline
(``tests/bench/baseline.json``) and fails when one worsens by more than the baseline's
``margin`` (relative), which is justified there from measured run-to-run noise. The
synthetic sizes are gated together (one geometric mean per case and implementation); each
real model's parameter list (``resnet50``, ``gpt2``: :data:`MODEL_SIZES`) is gated on its
own, under the key ``case/model/impl``.

Every command takes one or more results files (pytest-benchmark's JSON for the synthetic
sizes, :mod:`tests.bench.interleave`'s for the models); the table's header names the
machine, the date, the torch version and the load the run saw.

Command line::

    python -m optverify.bench table RESULTS.json [MORE.json ...] [--out bench.md]
    python -m optverify.bench gate RESULTS.json [MORE.json ...] [--baseline PATH]
    python -m optverify.bench noise RUN1.json RUN2.json [...]
    python -m optverify.bench baseline RUN1.json [RUN2.json ...] --margin 0.3 --out PATH
        [--update]  (keep the baseline's other keys; replace those the runs measured)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from optverify.bench_results import (
    BASELINE,
    GATED,
    LATEST,
    MODEL_SIZES,
    MODELS_JSON,
    OURS,
    Row,
    Timing,
    gated_ratios,
    load,
    machine_info,
    ratios,
    summarise,
)

__all__ = [
    "BASELINE",
    "GATED",
    "OURS",
    "Row",
    "Timing",
    "gate",
    "gated_ratios",
    "latest_results",
    "load",
    "main",
    "markdown",
    "noise",
    "ratios",
    "render_bench",
    "summarise",
]


def noise(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Per key, the relative spread ``max/min - 1`` of a ratio over repeated runs."""
    keys = set.intersection(*(set(r) for r in runs)) if runs else set()
    return {k: max(r[k] for r in runs) / min(r[k] for r in runs) - 1 for k in sorted(keys)}


def gate(current: Mapping[str, float], baseline: Mapping[str, float], margin: float) -> list[str]:
    """The regressions: keys whose ratio exceeds the baseline's by more than ``margin``
    (relative; ``0.3`` allows 30 % slower relative to torch). Keys the current run did not
    measure are not failures (a run may be narrowed to some cases or sizes)."""
    failures = []
    for key, base in sorted(baseline.items()):
        value = current.get(key)
        if value is None or math.isnan(value):
            continue
        if value > base * (1 + margin):
            failures.append(
                f"{key}: ours/torch-best {value:.3g} vs baseline {base:.3g} "
                f"(+{100 * (value / base - 1):.0f} %, margin {100 * margin:.0f} %)"
            )
    return failures


# ---------------------------------------------------------------------------------------------
# rendering


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1e3:.3g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} %"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _speedup(ratio: float | None) -> str:
    return "–" if not ratio else f"{1 / ratio:.2g}x"


def markdown(
    rows: Sequence[Row], *, title: str = "Per-step speed", info: Mapping[str, str] | None = None
) -> str:
    """The ratio tables: the real models' lists, the headline at 1e7, then all sizes; the
    header names the machine, date, torch version and load (``info``, :func:`machine_info`)."""
    lines = [f"## {title}", ""]
    if info:
        described = [f"{k} {info[k]}" for k in ("machine", "cpu", "cpus", "device", "date",
                                                 "torch", "load") if info.get(k)]  # fmt: skip
        lines += ["Measured on: " + "; ".join(described) + " (load: the 1, 5 and 15 minute "
                  "load averages when the run started).", ""]  # fmt: skip
    lines += [
        "float32, CPU, one thread; times in ms (minimum over rounds); *floor* = the bandwidth "
        "floor (reference `a.add_(b)` time x bytes per element / 12; at 1e7 every round, "
        "the reference's too, starts from a cold cache, after a write of twice the last-level "
        "cache; the floor assumes the reference's mix of reads and writes (two reads, one write), "
        "so a rule with another mix can pass 100 %); ratios < 1: ours is "
        "faster than torch's fastest implementation; *compile* = the first step's extra time "
        "for the compiled kernel, paid once per process (inductor's on-disk cache makes later "
        "processes faster).",
        "",
    ]
    cuda_rows = [r for r in rows if r.on_cuda]
    rows = [r for r in rows if not r.on_cuda]
    models = [r for r in rows if r.size in MODEL_SIZES]
    if models:
        lines += [
            "### Real models' parameter lists (interleaved: every round steps each "
            "implementation once)",
            "",
            "| optimiser | model | torch best | ours fast | ours ÷ torch best "
            "| ours readable ÷ torch best |",
            "|---|---|---|---|---|---|",
        ]
        for r in models:
            lines.append(
                f"| {r.case} | {r.size} | {r.torch_best or '–'} | {r.ours_fast or '–'} "
                f"| {_ratio(r.ratio.get(r.ours_fast or ''))} | {_ratio(r.ratio.get('ours'))} |"
            )
        lines.append("")
    headline = [r for r in rows if r.size == "1e7"]
    # the kernels compile once per process, at the first size that takes them (1e6)
    compile_s: dict[str, float] = {}
    for r in rows:
        if r.compile_s is not None:
            compile_s[r.case] = max(compile_s.get(r.case, 0.0), r.compile_s)
    if headline:
        lines += [
            "### At 1e7 elements",
            "",
            "| optimiser | ours fast (ms) | torch best (ms) | floor (ms) | ours % floor "
            "| torch % floor | ours ÷ torch best | speed-up | compile (s) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in headline:
            fast_t = r.times.get(r.ours_fast) if r.ours_fast else None
            best_t = r.times.get(r.torch_best) if r.torch_best else None
            lines.append(
                f"| {r.case} | {_ms(fast_t)} ({r.ours_fast or '–'}) | {_ms(best_t)} "
                f"({r.torch_best or '–'}) | {_ms(r.floor_s)} "
                f"| {_pct(r.pct_floor.get(r.ours_fast or ''))} "
                f"| {_pct(r.pct_floor.get(r.torch_best or ''))} "
                f"| {_ratio(r.ratio.get(r.ours_fast or ''))} "
                f"| {_speedup(r.ratio.get(r.ours_fast or ''))} "
                f"| {f'{compile_s[r.case]:.1f}' if r.case in compile_s else '–'} |"
            )
        lines.append("")
    lines += [
        "### All sizes: ours ÷ torch best (and % of floor)",
        "",
        "| optimiser | size | torch best | ours readable | ours multi-tensor | ours compiled |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = []
        for impl in OURS:
            if impl in r.ratio:
                pct = r.pct_floor.get(impl)
                cells.append(_ratio(r.ratio[impl]) + (f" ({pct:.0f} %)" if pct else ""))
            else:
                cells.append("–")
        best = r.torch_best or "–"
        if r.torch_best and r.torch_best in r.pct_floor:
            best += f" ({r.pct_floor[r.torch_best]:.0f} %)"
        lines.append(f"| {r.case} | {r.size} | {best} | " + " | ".join(cells) + " |")
    if cuda_rows:
        lines += ["", *_cuda_table(cuda_rows)]
    return "\n".join(lines) + "\n"


def _cuda_table(rows: Sequence[Row]) -> list[str]:
    """The CUDA rows: ours' fast path against torch's best CUDA mode, and the share of the
    device's peak memory bandwidth (and of the measured ``_foreach_add_`` floor) each
    reaches."""
    lines = [
        "### On the CUDA device (float32; a round is 20 steps between two synchronisations, "
        "interleaved; *% of peak* = bytes per element x elements / time / the peak memory "
        "bandwidth from the device's memory clock and bus width)",
        "",
        "| optimiser | size | ours fast | torch best | ours ÷ torch best | ours % of peak "
        "| torch % of peak | ours % floor | torch % floor |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fast, best = r.ours_fast or "", r.torch_best or ""
        lines.append(
            f"| {r.case} | {r.size.removeprefix('cuda-')} | {_ms(r.times.get(fast))} ms "
            f"({fast or '–'}) | {_ms(r.times.get(best))} ms ({best or '–'}) "
            f"| {_ratio(r.ratio.get(fast))} | {_pct(r.pct_peak.get(fast))} "
            f"| {_pct(r.pct_peak.get(best))} | {_pct(r.pct_floor.get(fast))} "
            f"| {_pct(r.pct_floor.get(best))} |"
        )
    return lines


def plot_floor(rows: Sequence[Row], path: str | Path, size: str = "1e7") -> None:
    """Bar chart: % of the bandwidth floor per optimiser at ``size``, ours fast vs torch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [r for r in rows if r.size == size and r.floor_s is not None]
    names = [r.case for r in chosen]
    ours = [r.pct_floor.get(r.ours_fast or "", 0.0) for r in chosen]
    theirs = [r.pct_floor.get(r.torch_best or "", 0.0) for r in chosen]
    fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(names), 1) + 1.5))
    y = list(range(len(names)))
    ax.barh([v - 0.2 for v in y], ours, height=0.4, label="ours (fastest path)")
    ax.barh([v + 0.2 for v in y], theirs, height=0.4, label="torch (fastest mode)")
    ax.axvline(80, linestyle="--", linewidth=1, color="grey")
    ax.axvline(100, linestyle="-", linewidth=1, color="black")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("% of the memory-bandwidth floor (higher is faster)")
    ax.set_title(f"Per-step speed at {size} float32 elements, one CPU thread")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def latest_results() -> Path | None:
    """The latest results JSON: ``$OPTVERIFY_BENCH_JSON``, else ``.benchmarks/latest.json``."""
    env = os.getenv("OPTVERIFY_BENCH_JSON")
    for candidate in (Path(env) if env else None, LATEST):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def _rows_from_baseline(path: Path) -> list[Row]:
    data = json.loads(path.read_text())
    return [Row(**row) for row in data.get("rows", [])]


def render_bench(out_dir: str | Path) -> list[str]:
    """Write ``bench.md`` and ``bench_floor.png`` into ``out_dir``; the paths written.

    From the latest results (:func:`latest_results`) when there are any, else from the
    committed baseline run; nothing is written when neither exists.
    """
    out = Path(out_dir)
    source = latest_results()
    if source is not None:
        sources = [source]
        models = source.with_name(MODELS_JSON)
        if models.is_file() and models != source:
            sources.append(models)
        rows = summarise(load(*sources))
        info = machine_info(*sources)
        origin = "results " + ", ".join(f"`{s}`" for s in sources)
    elif BASELINE.is_file():
        rows, origin = _rows_from_baseline(BASELINE), f"baseline `{BASELINE.name}`"
        info = {}
    else:
        return []
    out.mkdir(parents=True, exist_ok=True)
    md, png = out / "bench.md", out / "bench_floor.png"
    md.write_text(markdown(rows, info=info) + f"\nSource: {origin}.\n\n![% of floor]({png.name})\n")
    plot_floor(rows, png)
    return [str(md), str(png)]


# ---------------------------------------------------------------------------------------------
# command line


def _load_baseline(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optverify.bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_table = sub.add_parser("table", help="write the Markdown ratio table")
    p_table.add_argument("results", nargs="+")
    p_table.add_argument("--out", help="also write it to this file")
    p_table.add_argument("--png", help="also write the %% of floor bar chart here")
    p_gate = sub.add_parser("gate", help="fail (exit 1) on a regression against the baseline")
    p_gate.add_argument("results", nargs="+")
    p_gate.add_argument("--baseline", default=str(BASELINE))
    p_gate.add_argument("--margin", type=float, help="override the baseline's margin")
    p_noise = sub.add_parser("noise", help="run-to-run spread of every ratio")
    p_noise.add_argument("runs", nargs="+")
    p_noise.add_argument("--gated", action="store_true", help="the gate's per-case ratios")
    p_base = sub.add_parser("baseline", help="write a baseline (median ratio over runs)")
    p_base.add_argument("runs", nargs="+")
    p_base.add_argument("--margin", type=float, required=True)
    p_base.add_argument("--justification", default="")
    p_base.add_argument("--out", default=str(BASELINE))
    p_base.add_argument(
        "--update", action="store_true", help="keep the keys of --out the runs did not measure"
    )
    args = parser.parse_args(argv)

    if args.command == "table":
        rows = summarise(load(*args.results))
        text = markdown(rows, info=machine_info(*args.results))
        sys.stdout.write(text)
        if args.out:
            Path(args.out).write_text(text)
        if args.png:
            plot_floor(rows, args.png)
        return 0
    if args.command == "gate":
        base = _load_baseline(Path(args.baseline))
        margin = args.margin if args.margin is not None else float(base["margin"])
        current = gated_ratios(summarise(load(*args.results)))
        failures = gate(current, base["ratios"], margin)
        checked = sum(1 for k in base["ratios"] if k in current)
        for line in failures:
            print("REGRESSION", line)
        print(f"{checked} ratios checked against {args.baseline}, margin {margin:.0%}: "
              f"{len(failures)} regression(s)")  # fmt: skip
        return 1 if failures else 0
    if args.command == "noise":
        per = gated_ratios if args.gated else ratios
        runs = [per(summarise(load(r))) for r in args.runs]
        spread = noise(runs)
        for key, value in sorted(spread.items(), key=lambda kv: -kv[1]):
            print(f"{value * 100:6.1f} %  {key}")
        if spread:
            values = sorted(spread.values())
            print(f"median {statistics.median(values) * 100:.1f} %, max {values[-1] * 100:.1f} %")
        return 0
    runs = [gated_ratios(summarise(load(r))) for r in args.runs]
    keys = set.intersection(*(set(r) for r in runs))
    median = {k: statistics.median(r[k] for r in runs) for k in sorted(keys)}
    rows = summarise(load(args.runs[-1]))
    spread = noise(runs) if len(runs) > 1 else {}
    row_dicts = [asdict(r) for r in rows]
    old = _load_baseline(Path(args.out)) if args.update and Path(args.out).is_file() else None
    if old is not None:
        median = {**old.get("ratios", {}), **median}
        spread = {**old.get("noise", {}), **spread}
        measured = {(r.case, r.size) for r in rows}
        row_dicts = [r for r in old.get("rows", []) if (r["case"], r["size"]) not in measured]
        row_dicts += [asdict(r) for r in rows]
    payload = {
        "margin": args.margin,
        "metric": "per case and implementation: geometric mean over the synthetic sizes of "
        "ours ÷ torch best (minimum time over rounds); a real model's list is a key of its "
        "own (case/model/impl)",
        "justification": args.justification
        or (old.get("justification", "") if old is not None else ""),
        "runs": len(runs) if old is None else old.get("runs", len(runs)),
        "noise": spread,
        "ratios": dict(sorted(median.items())),
        "rows": row_dicts,
    }
    Path(args.out).write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
    print(f"wrote {args.out}: {len(median)} ratios")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
