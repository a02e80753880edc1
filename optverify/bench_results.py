"""Per-step benchmark results: the timings pytest-benchmark and the interleaved model runs
wrote, summarised per case and size as ratios to torch's best (:mod:`optverify.bench`
renders and gates them)."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BASELINE",
    "CUDA_PREFIX",
    "GATED",
    "LATEST",
    "MODELS_JSON",
    "MODEL_SIZES",
    "OURS",
    "Row",
    "Timing",
    "gated_ratios",
    "load",
    "machine_info",
    "ratios",
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
SIZE_ORDER = ("1e4", "1e6", "1e7", "200x5000", "resnet50", "gpt2", "cuda-1e7", "cuda-1e8",
              "cuda-resnet50", "cuda-gpt2")  # fmt: skip
#: the prefix of the sizes timed on a CUDA device (``tests/bench/cuda.py``)
CUDA_PREFIX = "cuda-"
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
    numel: int | None = None
    #: the device's peak memory bandwidth (bytes/s) where the run recorded it (CUDA)
    peak_bytes_per_s: float | None = None


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
    #: impl -> % of the device's peak memory bandwidth (bytes moved per step / time / peak)
    pct_peak: dict[str, float] = field(default_factory=dict)

    @property
    def on_cuda(self) -> bool:
        return self.size.startswith(CUDA_PREFIX)

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
            "device": str(mi.get("device") or ""),
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
                numel=info.get("numel"),
                peak_bytes_per_s=info.get("peak_bytes_per_s"),
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
        if t.peak_bytes_per_s and t.bytes_per_element and t.numel and t.min_s > 0:
            moved = t.bytes_per_element * t.numel
            row.pct_peak[t.impl] = 100 * moved / t.min_s / t.peak_bytes_per_s
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
    (:data:`MODEL_SIZES`) is a key of its own: ``case/model/impl``; the CUDA sizes one
    more: ``case/cuda/impl``.

    Only the fast paths (:data:`GATED`) are gated: the readable classes allocate a new tensor
    for every intermediate, and their times are bimodal (page faults of fresh allocations;
    a readable ratio moved by up to 126 % between two runs), so they are reported, not gated.
    """
    by_key: dict[str, list[float]] = {}
    for r in rows:
        for impl, value in r.ratio.items():
            if impl not in GATED:
                continue
            if r.size in MODEL_SIZES:
                key = f"{r.case}/{r.size}/{impl}"
            elif r.on_cuda:  # a device's sizes are gated apart from the CPU's
                key = f"{r.case}/cuda/{impl}"
            else:
                key = f"{r.case}/{impl}"
            by_key.setdefault(key, []).append(value)
    return {
        k: math.exp(statistics.fmean(math.log(v) for v in values))
        for k, values in by_key.items()
        if all(v > 0 for v in values)
    }
