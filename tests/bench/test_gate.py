"""The regression gate on synthetic pytest-benchmark JSON (cheap: no timing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from optverify import bench

#: (case, bytes per element): ms per step of (torch-foreach, torch-fused, ours-multi, ours-compiled)
_TIMES = {
    ("Adam", 28): (50.0, 8.0, 45.0, 7.8),
    ("RMSprop", 20): (30.0, None, 28.0, 5.5),
}
_REFERENCE_MS = 3.0


def _benchmark(case: str, size: str, impl: str, ms: float, bpe: int | None) -> dict:
    seconds = ms / 1e3
    return {
        "group": f"{case}-{size}",
        "name": f"test_step[{case}-{size}-{impl}]",
        "extra_info": {"case": case, "size": size, "impl": impl, "bytes_per_element": bpe},
        "stats": {"min": seconds, "median": seconds * 1.05, "rounds": 5},
    }


def _results(tmp_path: Path, name: str, slow: dict[str, float] | None = None) -> Path:
    """Synthetic results at 1e7; ``slow`` multiplies the named cases' ``ours-*`` times."""
    slow = slow or {}
    rows = [_benchmark("reference", "1e7", "reference", _REFERENCE_MS, 12)]
    for (case, bpe), times in _TIMES.items():
        for impl, ms in zip(("torch-foreach", "torch-fused", "ours-multi", "ours-compiled"),
                            times, strict=True):  # fmt: skip
            if ms is None:
                continue
            factor = slow.get(case, 1.0) if impl.startswith("ours") else 1.0
            rows.append(_benchmark(case, "1e7", impl, ms * factor, bpe))
    path = tmp_path / name
    path.write_text(json.dumps({"benchmarks": rows}))
    return path


def _baseline(tmp_path: Path, margin: float) -> Path:
    out = tmp_path / "baseline.json"
    assert bench.main(["baseline", str(_results(tmp_path, "base.json")), "--margin",
                       str(margin), "--out", str(out)]) == 0  # fmt: skip
    return out


def test_ratios_and_floor(tmp_path: Path) -> None:
    rows = bench.summarise(bench.load(_results(tmp_path, "r.json")))
    adam = next(r for r in rows if r.case == "Adam")
    assert adam.torch_best == "torch-fused" and adam.ours_fast == "ours-compiled"
    assert adam.ratio["ours-compiled"] == pytest.approx(7.8 / 8.0)
    assert adam.floor_s == pytest.approx(_REFERENCE_MS / 1e3 * 28 / 12)
    assert adam.pct_floor["ours-compiled"] == pytest.approx(100 * 7.0 / 7.8)
    rms = next(r for r in rows if r.case == "RMSprop")
    assert rms.torch_best == "torch-foreach" and rms.ratio["ours-compiled"] == pytest.approx(
        5.5 / 30.0
    )


def test_unchanged_run_passes_the_gate(tmp_path: Path) -> None:
    baseline = _baseline(tmp_path, 0.3)
    again = _results(tmp_path, "again.json")
    assert bench.main(["gate", str(again), "--baseline", str(baseline)]) == 0


def test_noise_within_the_margin_passes(tmp_path: Path) -> None:
    baseline = _baseline(tmp_path, 0.3)
    noisy = _results(tmp_path, "noisy.json", slow={"Adam": 1.2, "RMSprop": 1.25})
    assert bench.main(["gate", str(noisy), "--baseline", str(baseline)]) == 0


def test_injected_2x_slowdown_fails_the_gate(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An injected 2x slowdown of one optimiser (both of its fast paths) fails the gate and
    names exactly that optimiser."""
    baseline = _baseline(tmp_path, 0.3)
    slow = _results(tmp_path, "slow.json", slow={"RMSprop": 2.0})
    assert bench.main(["gate", str(slow), "--baseline", str(baseline)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION RMSprop/ours-compiled" in out
    assert "REGRESSION RMSprop/ours-multi" in out
    assert "Adam/" not in out.replace("ratios checked", "")


def test_gated_ratio_is_the_geometric_mean_over_sizes() -> None:
    rows = [
        bench.Row("Adam", size, {}, None, "torch-fused", "ours-compiled",
                  ratio={"ours-compiled": value})
        for size, value in (("1e4", 2.0), ("1e6", 0.5), ("1e7", 1.0))
    ]  # fmt: skip
    assert bench.gated_ratios(rows) == {"Adam/ours-compiled": pytest.approx(1.0)}


def test_gate_function_directly() -> None:
    base = {"Adam/1e7/ours-compiled": 1.0, "SGD/1e7/ours-compiled": 0.9}
    assert bench.gate({"Adam/1e7/ours-compiled": 1.29}, base, 0.3) == []
    failures = bench.gate({"Adam/1e7/ours-compiled": 2.0}, base, 0.3)
    assert len(failures) == 1 and failures[0].startswith("Adam/1e7/ours-compiled")


def test_render_bench_writes_table_and_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("OPTVERIFY_BENCH_JSON", str(_results(tmp_path, "latest.json")))
    written = bench.render_bench(tmp_path / "report")
    assert [Path(p).name for p in written] == ["bench.md", "bench_floor.png"]
    text = (tmp_path / "report" / "bench.md").read_text()
    assert "| Adam |" in text and "ours ÷ torch best" in text
    assert (tmp_path / "report" / "bench_floor.png").stat().st_size > 1000


def test_large_sizes_are_timed_from_a_cold_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """From COLD_FROM_NUMEL elements a benchmark runs each round after an eviction (setup,
    untimed); below it, pytest-benchmark's ordinary loop."""
    from tests.bench import test_step_speed as speed

    calls: list[tuple[str, Any]] = []

    class Bench:
        def __init__(self) -> None:
            self.extra_info: dict[str, Any] = {}

        def __call__(self, fn: Any) -> None:
            calls.append(("loop", fn))

        def pedantic(self, fn: Any, *, setup: Any, rounds: int, iterations: int) -> None:
            calls.append(("pedantic", (fn, setup, rounds, iterations)))

    evicted: list[bool] = []
    monkeypatch.setattr(speed, "_evict", lambda: evicted.append(True))
    warm, cold = Bench(), Bench()
    speed._time(warm, print, 10_000)
    speed._time(cold, print, 10_000_000)
    assert calls[0] == ("loop", print)
    kind, (fn, setup, rounds, iterations) = calls[1]
    assert (kind, fn, rounds, iterations) == ("pedantic", print, speed.COLD_ROUNDS, 1)
    setup()
    assert evicted == [True]
    assert (warm.extra_info, cold.extra_info) == ({}, {"cold": True})
    assert 2**20 <= speed._evicting_size() <= 2 * 2**30
