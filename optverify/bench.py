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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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

#: the committed baseline (present in a source checkout)
BASELINE = Path(__file__).resolve().parents[1] / "tests" / "bench" / "baseline.json"
#: where ``nox -s bench`` writes the latest results
LATEST = Path(".benchmarks") / "latest.json"
#: the real models' interleaved results, written beside it by ``nox -s bench``
MODELS_JSON = "models.json"
#: our implementations, compared with torch's best
OURS = ("ours", "ours-multi", "ours-compiled")
#: those the regression gate holds to the baseline (the fast paths)
GATED = ("ours-multi", "ours-compiled")
SIZE_ORDER = ("1e4", "1e6", "1e7", "200x5000", "resnet50", "gpt2")
#: real models' parameter lists: gated and tabled on their own
MODEL_SIZES = ("resnet50", "gpt2")
REFERENCE_BYTES = 12


@dataclass(frozen=True)
class Timing:
    """One benchmark of one run."""

    case: str
    size: str
    impl: str
    min_s: float
    median_s: float
    rounds: int
    bytes_per_element: int | None
    compile_s: float | None = None


@dataclass
class Row:
    """One case at one size: every implementation's time, the floor, and the ratios."""

    case: str
    size: str
    times: dict[str, float]
    floor_s: float | None
    torch_best: str | None
    ours_fast: str | None
    compile_s: float | None = None
    ratio: dict[str, float] = field(default_factory=dict)  # ours impl -> ÷ torch best
    pct_floor: dict[str, float] = field(default_factory=dict)  # impl -> % of floor

    @property
    def key(self) -> str:
        return f"{self.case}/{self.size}"


def load(*paths: str | Path) -> list[Timing]:
    """The timings of pytest-benchmark-shaped JSON files (benchmarks without our
    ``extra_info`` are ignored)."""
    out: list[Timing] = []
    for path in paths:
        out += _load_one(path)
    return out


def machine_info(*paths: str | Path) -> dict[str, str]:
    """Where and when the results were measured: machine, CPU, date, torch, load average
    (the first file that says; pytest-benchmark's ``machine_info``/``datetime`` or the
    interleaved runner's)."""
    info: dict[str, str] = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        mi = data.get("machine_info", {}) or {}
        cpu = mi.get("cpu", {}) if isinstance(mi.get("cpu"), dict) else {}
        found = {
            "machine": str(mi.get("node", "")),
            "cpu": str(cpu.get("brand_raw") or mi.get("processor") or ""),
            "cpus": str(cpu.get("count") or mi.get("cpus") or ""),
            "date": str(data.get("datetime") or mi.get("date") or ""),
            "torch": str(mi.get("torch", "")),
            "load": " ".join(mi.get("loadavg") or []) if isinstance(mi.get("loadavg"), list)
            else str(mi.get("loadavg") or ""),
        }  # fmt: skip
        for k, v in found.items():
            if v and not info.get(k):
                info[k] = v
    return info


def _load_one(path: str | Path) -> list[Timing]:
    data = json.loads(Path(path).read_text())
    out = []
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if not {"case", "size", "impl"} <= set(info):
            continue
        stats = bench["stats"]
        out.append(
            Timing(
                case=info["case"],
                size=info["size"],
                impl=info["impl"],
                min_s=float(stats["min"]),
                median_s=float(stats["median"]),
                rounds=int(stats["rounds"]),
                bytes_per_element=info.get("bytes_per_element"),
                compile_s=info.get("compile_s"),
            )
        )
    return out


def _size_key(size: str) -> int:
    return SIZE_ORDER.index(size) if size in SIZE_ORDER else len(SIZE_ORDER)


def summarise(timings: Iterable[Timing]) -> list[Row]:
    """One :class:`Row` per (case, size), in the order of the run, sizes ordered."""
    timings = list(timings)
    reference = {t.size: t.min_s for t in timings if t.impl == "reference"}
    rows: dict[tuple[str, str], Row] = {}
    for t in timings:
        if t.impl == "reference":
            continue
        row = rows.get((t.case, t.size))
        if row is None:
            floor = None
            if t.bytes_per_element and t.size in reference:
                floor = reference[t.size] * t.bytes_per_element / REFERENCE_BYTES
            row = rows[(t.case, t.size)] = Row(t.case, t.size, {}, floor, None, None)
        row.times[t.impl] = t.min_s
        if t.compile_s is not None:
            row.compile_s = t.compile_s
    for row in rows.values():
        torch_impls = {k: v for k, v in row.times.items() if k.startswith("torch-")}
        fast_impls = {k: v for k, v in row.times.items() if k in ("ours-multi", "ours-compiled")}
        row.torch_best = min(torch_impls, key=torch_impls.__getitem__) if torch_impls else None
        row.ours_fast = min(fast_impls, key=fast_impls.__getitem__) if fast_impls else None
        if row.torch_best is not None:
            best = row.times[row.torch_best]
            row.ratio = {k: v / best for k, v in row.times.items() if k in OURS}
        if row.floor_s is not None:
            row.pct_floor = {k: 100 * row.floor_s / v for k, v in row.times.items()}
    cases = list(dict.fromkeys(t.case for t in timings if t.impl != "reference"))
    return sorted(rows.values(), key=lambda r: (cases.index(r.case), _size_key(r.size)))


def ratios(rows: Iterable[Row]) -> dict[str, float]:
    """``{"case/size/impl": ours ÷ torch best}`` for every one of our implementations."""
    return {f"{r.key}/{impl}": value for r in rows for impl, value in r.ratio.items()}


def gated_ratios(rows: Iterable[Row]) -> dict[str, float]:
    """``{"case/impl": geometric mean over the sizes of ours ÷ torch best}``: what the gate
    compares. One size alone is noisy on a shared machine (a ratio at 200 x 5 000 moved by
    up to 60 % between two runs); the geometric mean over the four sizes moves far less, and
    a real slowdown of an implementation shows at every size. A real model's list
    (:data:`MODEL_SIZES`) is a key of its own: ``case/model/impl``.

    Only the fast paths (:data:`GATED`) are gated: the readable classes allocate a new tensor
    for every intermediate, and their times are bimodal (page faults of fresh allocations;
    a readable ratio moved by up to 126 % between two runs), so they are reported, not gated.
    """
    by_key: dict[str, list[float]] = {}
    for r in rows:
        for impl, value in r.ratio.items():
            if impl not in GATED:
                continue
            key = f"{r.case}/{r.size}/{impl}" if r.size in MODEL_SIZES else f"{r.case}/{impl}"
            by_key.setdefault(key, []).append(value)
    return {
        k: math.exp(statistics.fmean(math.log(v) for v in values))
        for k, values in by_key.items()
        if all(v > 0 for v in values)
    }


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
        described = [f"{k} {info[k]}" for k in ("machine", "cpu", "cpus", "date", "torch", "load")
                     if info.get(k)]  # fmt: skip
        lines += ["Measured on: " + "; ".join(described) + " (load: the 1, 5 and 15 minute "
                  "load averages when the run started).", ""]  # fmt: skip
    lines += [
        "float32, CPU, one thread; times in ms (minimum over rounds); *floor* = the bandwidth "
        "floor (reference `a.add_(b)` time x bytes per element / 12); ratios < 1: ours is "
        "faster than torch's fastest implementation; *compile* = the first step's extra time "
        "for the compiled kernel, paid once per process (inductor's on-disk cache makes later "
        "processes faster).",
        "",
    ]
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
    return "\n".join(lines) + "\n"


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
