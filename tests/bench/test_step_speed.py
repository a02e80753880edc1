"""Per-step time of ours against torch, float32 on the CPU, one thread.

Each benchmark times ``optimizer.step()`` on fixed gradients after two untimed steps (which
create the state and, for ``ours-compiled``, compile the kernel: that time is recorded
separately in ``extra_info["compile_s"]``). Ours and torch's implementations of one case
and size share a benchmark group, so the ratio column is the figure; the bandwidth
reference (``a.add_(b, alpha=s)``, 12 bytes per element, or ``torch._foreach_add_`` over
the 200 tensors) is timed in the same run, and ``python -m optverify.bench`` turns the JSON
into ratios and percentages of the bandwidth floor (see :mod:`tests.bench.cases`).

The large sizes (1e7) are timed from a cold cache, the reference and every implementation
alike: each round starts after a write of twice the last-level cache (:func:`_evict`). A
repeated 1e7 step otherwise runs out of whatever part of its working set the cache keeps,
which differs between the reference (80 MB, kept whole by a 480 MiB cache: 3.3 ms against
6.1-6.6 ms when other large tensors ran between) and the optimisers (120-160 MB), so the
percentage of the floor moved 2x with the cache, not with the code.

``OPTVERIFY_BENCH_SLOWDOWN=RMSprop`` (a comma-separated list of cases) injects a real 2x
slowdown into our implementations of those cases (each timed step runs the step twice): the
demonstration that the regression gate of ``nox -s bench`` catches one.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor

from tests.bench.cases import CASES, SIZES, make_closure, make_grads, make_optimizer, shapes_for


def _tensors(shapes: list[tuple[int, ...]], seed: int) -> list[Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen, dtype=torch.float32) for s in shapes]


def _numel(shapes: list[tuple[int, ...]]) -> int:
    return sum(math.prod(s) for s in shapes)


def _slowed_down() -> set[str]:
    return {c.strip() for c in os.getenv("OPTVERIFY_BENCH_SLOWDOWN", "").split(",") if c.strip()}


#: sizes timed from a cold cache (more elements than this): every timed call starts after a
#: write of :func:`_evicting_size` bytes, as in training, where the forward and backward
#: passes evict the optimiser's state between steps
COLD_FROM_NUMEL = 5_000_000
#: rounds of a cold timing (each costs one eviction, ~0.1-0.2 s)
COLD_ROUNDS = 7


def _last_level_cache() -> int:
    """The largest cache's size in bytes (sysfs), 512 MiB when it cannot be read."""
    sizes = []
    for path in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        text = path.read_text().strip().upper()
        unit = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
        sizes.append(int(text.rstrip("KMG")) * unit)
    return max(sizes, default=512 * 2**20)


def _evicting_size() -> int:
    """Bytes written to evict the caches: twice the largest cache (at most 2 GiB)."""
    return min(2 * _last_level_cache(), 2 * 2**30)


_EVICT: list[Tensor] = []


def _evict() -> None:
    if not _EVICT:
        _EVICT.append(torch.empty(_evicting_size() // 4, dtype=torch.float32))
    _EVICT[0].fill_(1.0)


def _time(benchmark: Any, fn: Callable[[], object], numel: int) -> None:
    """``benchmark(fn)``; from :data:`COLD_FROM_NUMEL` elements every round starts cold."""
    if numel > COLD_FROM_NUMEL:
        benchmark.extra_info["cold"] = True
        benchmark.pedantic(fn, setup=_evict, rounds=COLD_ROUNDS, iterations=1)
    else:
        benchmark(fn)


def _inductor_counter(name: str) -> int:
    from torch._dynamo.utils import counters

    return int(counters["inductor"][name])


def test_bandwidth_reference(benchmark: pytest.FixtureRequest, reference_size: str) -> None:
    """The reference: one in-place pass reading two tensors and writing one (12 B/element)."""
    shapes = SIZES[reference_size]
    a, b = _tensors(shapes, 0), _tensors(shapes, 1)
    run: Callable[[], object]
    if len(a) == 1:
        run = lambda: a[0].add_(b[0], alpha=1e-3)  # noqa: E731
    else:
        run = lambda: torch._foreach_add_(a, b, alpha=1e-3)  # noqa: E731
    run()  # touch every page once
    benchmark.group = f"reference-{reference_size}"  # type: ignore[attr-defined]
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        case="reference", size=reference_size, impl="reference", numel=_numel(shapes),
        bytes_per_element=12,
    )  # fmt: skip
    _time(benchmark, run, _numel(shapes))


def test_step(benchmark: pytest.FixtureRequest, step_case: tuple[str, str, str]) -> None:
    name, size, impl = step_case
    case = CASES[name]
    shapes = shapes_for(case, size)
    params = _tensors(shapes, 0)
    grads = make_grads(case, params)
    opt = make_optimizer(case, impl, params)
    closure = make_closure(case, params, grads)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    misses = _inductor_counter("fxgraph_cache_miss")
    start = time.perf_counter()
    opt.step(closure)  # creates the state (and compiles)
    first = time.perf_counter() - start
    start = time.perf_counter()
    opt.step(closure)
    second = time.perf_counter() - start
    benchmark.group = f"{name}-{size}"  # type: ignore[attr-defined]
    benchmark.extra_info.update(  # type: ignore[attr-defined]
        case=name, size=size, impl=impl, torch_name=case.torch_name, numel=_numel(shapes),
        bytes_per_element=case.bytes_per_element,
    )  # fmt: skip
    if impl == "ours-compiled":
        benchmark.extra_info.update(  # type: ignore[attr-defined]
            compile_s=max(first - second, 0.0),
            compiled_fresh=_inductor_counter("fxgraph_cache_miss") > misses,
        )

    def step() -> None:
        opt.step(closure)

    if impl.startswith("ours") and name in _slowed_down():

        def step() -> None:  # the injected 2x slowdown
            opt.step(closure)
            opt.step(closure)

    _time(benchmark, step, _numel(shapes))
    assert all(bool(torch.isfinite(p).all()) for p in params)
