"""Parametrisation of the benchmarks: tiny smoke tests normally, the full grid when timed.

In ordinary test runs (``--benchmark-disable`` is in the pytest addopts, and xdist disables
pytest-benchmark too) every benchmark runs once as a smoke test, so only the smallest size
is generated and nothing is compiled (the ``ours-compiled`` implementation is left out).
When benchmarks are enabled (``nox -s bench``, i.e. ``--benchmark-enable``), every case x
implementation x size is generated. Two environment variables narrow a timed run:
``OPTVERIFY_BENCH_CASES=Adam,SGD`` and ``OPTVERIFY_BENCH_SIZES=1e7``.
"""

from __future__ import annotations

import os

import pytest
import torch

from tests.bench.cases import CASES, SIZES

torch.set_num_threads(1)

SMOKE_SIZE = "1e4"


def timed(config: pytest.Config) -> bool:
    """Whether pytest-benchmark will time the benchmarks in this run."""
    session = getattr(config, "_benchmarksession", None)
    if session is not None:
        return not session.disabled
    return bool(config.getoption("benchmark_enable", False)) or not config.getoption(
        "benchmark_disable", False
    )


def _selected(env: str, known: list[str]) -> list[str]:
    wanted = os.getenv(env)
    if not wanted:
        return known
    chosen = [w.strip() for w in wanted.split(",") if w.strip()]
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise pytest.UsageError(f"{env}: unknown {unknown}; valid: {known}")
    return [k for k in known if k in chosen]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    full = timed(metafunc.config)
    sizes = _selected("OPTVERIFY_BENCH_SIZES", list(SIZES)) if full else [SMOKE_SIZE]
    if "step_case" in metafunc.fixturenames:
        params = []
        for name in _selected("OPTVERIFY_BENCH_CASES", list(CASES)):
            case = CASES[name]
            impls = [i for i in case.impls() if full or i != "ours-compiled"]
            params += [(name, size, impl) for size in sizes if size in case.sizes for impl in impls]
        metafunc.parametrize("step_case", params, ids=["-".join(p) for p in params])
    if "reference_size" in metafunc.fixturenames:
        metafunc.parametrize("reference_size", sizes)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    """The torch version, threads and load average beside pytest-benchmark's machine info
    (the table's header names them)."""
    machine_info["torch"] = torch.__version__
    machine_info["threads"] = torch.get_num_threads()
    try:
        with open("/proc/loadavg") as f:
            machine_info["loadavg"] = f.read().split()[:3]
    except OSError:
        pass
