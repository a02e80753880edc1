"""Interleaved timing: ours and torch's modes of one case stepped in turn, in one process.

pytest-benchmark times one implementation after another; on a shared machine the load
changes between them, and a ratio of two times taken a minute apart carries that change.
Here every round steps each implementation once, in a shuffled order, so a burst of load
falls on all of them alike; the figure is the minimum over rounds (interference only ever
adds time). The implementations of a case share the parameters and gradients (each has its
own state), which keeps GPT-2-sized runs within memory.

Writes pytest-benchmark-shaped JSON (``extra_info`` with case, size, impl), so that
:mod:`optverify.bench` tables and gates it like the pytest-benchmark runs::

    python -m tests.bench.interleave --sizes resnet50,gpt2 --rounds 7 --json out.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tests.bench.cases import (
    CASES,
    MODEL_SIZES,
    SIZES,
    Case,
    make_closure,
    make_grads,
    make_optimizer,
    shapes_for,
)

__all__ = ["main", "run_case", "time_round"]


def _tensors(shapes: Sequence[tuple[int, ...]], seed: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=torch.float32) for s in shapes]


def _record(case: str, size: str, impl: str, times: list[float], numel: int,
            bpe: int | None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    ordered = sorted(times)
    return {
        "group": f"{case}-{size}",
        "name": f"interleaved[{case}-{size}-{impl}]",
        "extra_info": {
            "case": case,
            "size": size,
            "impl": impl,
            "numel": numel,
            "bytes_per_element": bpe,
            **extra,
        },
        "stats": {"min": ordered[0], "median": ordered[len(ordered) // 2], "rounds": len(times)},
    }


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_round(step: Callable[[], object], device: torch.device, steps: int = 1) -> float:
    """Seconds per step over ``steps`` steps between two synchronisations of ``device`` (a
    CUDA step returns before its kernels finish; on the CPU there is nothing to wait for)."""
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(device)
    return (time.perf_counter() - start) / steps


def run_case(
    case: Case,
    size: str,
    impls: Sequence[str],
    rounds: int,
    seed: int = 0,
    *,
    device: torch.device | None = None,
    steps: int = 1,
    shapes: Sequence[tuple[int, ...]] | None = None,
    label: str | None = None,
    extra: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Time one step of every implementation of ``case`` at ``size``, interleaved: on the
    CPU by default, else on ``device`` with ``steps`` steps per timed round (``shapes``
    instead of the size's, ``label`` instead of ``size`` in the records, ``extra`` added to
    every record's ``extra_info``)."""
    device = torch.device("cpu") if device is None else device
    shapes = shapes_for(case, size) if shapes is None else list(shapes)
    numel = sum(math.prod(s) for s in shapes)
    params = [t.to(device) for t in _tensors(shapes, 0)]
    grads = [g.to(device) for g in make_grads(case, params, seed=1)]  # drawn on the CPU
    run: dict[str, Callable[[], object]] = {}
    compile_s: dict[str, float] = {}
    for impl in impls:
        opt = make_optimizer(case, impl, params)
        closure = make_closure(case, params, grads)
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        step = lambda o=opt, c=closure: o.step(c)  # noqa: E731
        first = time_round(step, device)  # state (and compilation)
        compile_s[impl] = max(first - 2 * time_round(step, device), 0.0)
        run[impl] = step
    times: dict[str, list[float]] = {impl: [] for impl in impls}
    rng = random.Random(seed)
    for _ in range(rounds):
        order = list(impls)
        rng.shuffle(order)
        for impl in order:
            times[impl].append(time_round(run[impl], device, steps))
    out = []
    torch_impls = [i for i in impls if i.startswith("torch")]
    best = min(torch_impls, key=lambda i: min(times[i]), default=None)
    for impl in impls:
        info: dict[str, Any] = {"compile_s": compile_s[impl]} if impl == "ours-compiled" else {}
        if best is not None:
            # the spread: this round's time over torch's best mode's time in the same round
            per_round = sorted(a / b for a, b in zip(times[impl], times[best], strict=True))
            q = len(per_round) // 4
            info["round_ratio"] = [per_round[q], per_round[len(per_round) // 2],
                                   per_round[-1 - q]]  # fmt: skip
        out.append(_record(case.name, label or size, impl, times[impl], numel,
                           case.bytes_per_element, interleaved=True, **info,
                           **(extra or {})))  # fmt: skip
    return out


def reference(size_shapes: Sequence[tuple[int, ...]], size: str, rounds: int) -> dict[str, Any]:
    """The bandwidth reference (``a.add_(b)``, foreach over a list) at ``size``."""
    a, b = _tensors(size_shapes, 0), _tensors(size_shapes, 1)
    torch._foreach_add_(a, b, alpha=1e-3)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        torch._foreach_add_(a, b, alpha=1e-3)
        times.append(time.perf_counter() - start)
    numel = sum(math.prod(s) for s in size_shapes)
    return _record("reference", size, "reference", times, numel, 12)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    load = None
    with contextlib.suppress(OSError):
        load = Path("/proc/loadavg").read_text().split()[:3]
    return {
        "node": platform.node(),
        "machine": platform.machine(),
        "processor": platform.processor() or _cpu_name(),
        "cpus": __import__("os").cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "loadavg": load,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.interleave", description=__doc__)
    parser.add_argument("--cases", default="", help="comma-separated (default: all)")
    parser.add_argument("--sizes", default="resnet50,gpt2")
    parser.add_argument("--impls", default="", help="comma-separated (default: all of a case)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", help="write pytest-benchmark-shaped JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = [c for c in args.cases.split(",") if c] or list(CASES)
    unknown = [c for c in names if c not in CASES]
    if unknown:
        print(f"error: unknown case(s) {unknown}; valid: {list(CASES)}", file=sys.stderr)
        return 2
    sizes = [s for s in args.sizes.split(",") if s]
    wanted = [i for i in args.impls.split(",") if i]
    rows: list[dict[str, Any]] = []
    known = {**SIZES, **MODEL_SIZES}
    bad = [s for s in sizes if s not in known]
    if bad:
        print(f"error: unknown size(s) {bad}; valid: {list(known)}", file=sys.stderr)
        return 2
    for size in sizes:
        rows.append(reference(known[size], size, max(args.rounds, 5)))
    for name in names:
        case = CASES[name]
        for size in sizes:
            if size not in case.sizes:
                continue
            impls = [i for i in case.impls() if not wanted or i in wanted]
            recs = run_case(case, size, impls, args.rounds)
            rows += recs
            best = min((r for r in recs if r["extra_info"]["impl"].startswith("torch")),
                       key=lambda r: r["stats"]["min"], default=None)  # fmt: skip
            line = [f"{name:13s} {size:9s}"]
            for r in recs:
                impl, t = r["extra_info"]["impl"], r["stats"]["min"]
                ratio = f" ({t / best['stats']['min']:.2f})" if best else ""
                spread = r["extra_info"].get("round_ratio")
                if spread and not impl.startswith("torch"):
                    ratio += f" [rounds {spread[0]:.2f}/{spread[1]:.2f}/{spread[2]:.2f}]"
                line.append(f"{impl}={t * 1e3:.2f}ms{ratio}")
            print(" ".join(line), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine_info": machine(), "benchmarks": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
