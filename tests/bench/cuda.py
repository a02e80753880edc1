"""Per-step time on a CUDA device: ours' fast paths against torch's foreach and fused CUDA
kernels, and the share of the device's memory bandwidth each reaches.

Every case with a fast path (``optimizers.fast``) at four sizes: one vector of 1e7 and of
1e8 elements (a 1e7 step's tensors, 120-160 MB, already exceed an H100's or H200's 50 MB
L2 cache) and the ResNet-50 and GPT-2-small parameter lists (:mod:`tests.bench.models`).
Implementations: ``ours-multi``, ``ours-compiled`` (inductor's Triton kernels) and torch's
CUDA modes (``foreach``, ``fused``; the for-loop only where torch has nothing else).

Timing is interleaved as in :mod:`tests.bench.interleave` (every round times each
implementation once, in a shuffled order; the figure is the minimum over rounds), and a
round is :data:`STEPS` steps between two synchronisations, divided by :data:`STEPS`: a CUDA
step returns before its kernels finish, and one synchronisation per step would add its own
latency (~10 µs) to steps of ~50 µs. The bandwidth reference (``torch._foreach_add_``, 12
bytes per element) is timed the same way at each size, so the rows carry a *floor* as on the
CPU; each record also carries the device's peak memory bandwidth where torch reports the
memory clock and bus width (:func:`peak_bytes_per_s`), from which ``optverify.bench``
reports ``% of peak`` (bytes per element x elements / time / peak).

Size labels are prefixed with the device type (``cuda-1e7``), so that a table or gate never
mixes them with the CPU's::

    python -m tests.bench.cuda --json .benchmarks/cuda.json    # nox -s bench runs this

Without a CUDA device it says so and writes nothing (exit 0).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from optverify.optimizers import fast
from optverify.properties.specs import SPECS
from tests.bench import interleave
from tests.bench.cases import CASES, Case
from tests.bench.models import MODELS

__all__ = ["DEVICE_SIZES", "STEPS", "device_impls", "main", "peak_bytes_per_s", "run_case"]

#: size label (without the device prefix) -> the parameter shapes of one param group
DEVICE_SIZES: dict[str, list[tuple[int, ...]]] = {
    "1e7": [(10_000_000,)],
    "1e8": [(100_000_000,)],
    "resnet50": MODELS["resnet50"],
    "gpt2": MODELS["gpt2"],
}
#: steps per timed round (one synchronisation before and after)
STEPS = 20


def peak_bytes_per_s(props: Any) -> float | None:
    """The device's peak memory bandwidth in bytes per second, from the memory clock (kHz)
    and bus width (bits) torch reports (double data rate: two transfers a clock), or
    ``None`` where this torch does not report them."""
    clock_khz = getattr(props, "memory_clock_rate", None)
    width_bits = getattr(props, "memory_bus_width", None)
    if not clock_khz or not width_bits:
        return None
    return 2.0 * float(clock_khz) * 1e3 * float(width_bits) / 8.0


def device_impls(case: Case, device: str) -> list[str]:
    """The implementations timed for ``case`` on ``device``: ours' fast paths and torch's
    modes there (its for-loop only where it has no other)."""
    modes = SPECS[case.torch_name].modes_on(device)
    torch_modes = [m for m in modes if m != "forloop"] or list(modes)
    return ["ours-multi", "ours-compiled"] + [f"torch-{m}" for m in torch_modes]


def _label(device: torch.device, size: str) -> str:
    return f"{device.type}-{size}"


def _extra(device: torch.device, steps: int, peak: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"device": _device_name(device), "steps": steps}
    if peak is not None:
        out["peak_bytes_per_s"] = peak
    return out


def run_case(
    case: Case,
    size: str,
    impls: Sequence[str],
    rounds: int,
    device: torch.device,
    *,
    shapes: Sequence[tuple[int, ...]] | None = None,
    steps: int = STEPS,
    peak: float | None = None,
) -> list[dict[str, Any]]:
    """Time every implementation of ``case`` at ``size`` on ``device``, interleaved
    (:func:`tests.bench.interleave.run_case`, ``steps`` steps a round); the size labelled
    with the device type, the device's name, the steps and its peak in every record."""
    return interleave.run_case(
        case, size, impls, rounds, device=device, steps=steps,
        shapes=DEVICE_SIZES[size] if shapes is None else shapes, label=_label(device, size),
        extra=_extra(device, steps, peak),
    )  # fmt: skip


def reference(
    size: str,
    rounds: int,
    device: torch.device,
    *,
    shapes: Sequence[tuple[int, ...]] | None = None,
    steps: int = STEPS,
    peak: float | None = None,
) -> dict[str, Any]:
    """The bandwidth reference (``torch._foreach_add_``, 12 bytes per element) at ``size``."""
    shapes = list(DEVICE_SIZES[size] if shapes is None else shapes)
    a = [torch.randn(s).to(device) for s in shapes]
    b = [torch.randn(s).to(device) for s in shapes]

    def add() -> None:
        torch._foreach_add_(a, b, alpha=1e-3)

    add()
    times = [interleave.time_round(add, device, steps) for _ in range(rounds)]
    numel = sum(math.prod(s) for s in shapes)
    return interleave._record("reference", _label(device, size), "reference", times, numel, 12,
                              **_extra(device, steps, peak))  # fmt: skip


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return str(torch.cuda.get_device_name(device))
    return device.type


def _cases(names: str) -> list[Case]:
    chosen = [n.strip() for n in names.split(",") if n.strip()] or list(CASES)
    unknown = sorted(set(chosen) - set(CASES))
    if unknown:
        raise ValueError(f"unknown case(s) {unknown}; valid: {sorted(CASES)}")
    return [CASES[n] for n in chosen if CASES[n].torch_name in fast.FAST]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.cuda", description=__doc__)
    parser.add_argument(
        "--cases", default="", help="comma-separated (default: all with a fast path)"
    )
    parser.add_argument("--sizes", default=",".join(DEVICE_SIZES))
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--json", help="write pytest-benchmark-shaped JSON here")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    try:
        cases = _cases(args.cases)
        unknown = sorted(set(sizes) - set(DEVICE_SIZES))
        if unknown:
            raise ValueError(f"unknown size(s) {unknown}; valid: {sorted(DEVICE_SIZES)}")
        device = torch.device(args.device)
    except (ValueError, RuntimeError) as error:
        print(f"python -m tests.bench.cuda: {error}", file=sys.stderr)
        return 2
    if device.type == "cuda" and not torch.cuda.is_available():
        print("python -m tests.bench.cuda: no CUDA device here; nothing timed", file=sys.stderr)
        return 0
    torch.manual_seed(0)
    peak = (
        peak_bytes_per_s(torch.cuda.get_device_properties(device))
        if device.type == "cuda"
        else None
    )
    records = []
    for size in sizes:
        records.append(reference(size, args.rounds, device, peak=peak))
        for case in cases:
            impls = device_impls(case, device.type)
            records += run_case(case, size, impls, args.rounds, device, peak=peak)
            last = {
                r["extra_info"]["impl"]: r["stats"]["min"] * 1e3 for r in records[-len(impls) :]
            }
            print(f"{case.name:13s} {_label(device, size):14s} "
                  + " ".join(f"{k}={v:.3f}ms" for k, v in last.items()), flush=True)  # fmt: skip
    if args.json:
        info = interleave.machine() | {"device": _device_name(device), "peak_bytes_per_s": peak}
        Path(args.json).write_text(json.dumps({"machine_info": info, "benchmarks": records},
                                              indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
