"""The CUDA timing runner (``tests/bench/cuda.py``) and its rows in the table and the gate,
checked without a GPU: the runner's loop on the CPU, the table and gate on written JSON."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from optverify import bench
from optverify.bench_results import gated_ratios, load, summarise
from tests.bench import cuda, interleave
from tests.bench.cases import CASES


def test_peak_bandwidth_from_memory_clock_and_bus_width() -> None:
    # an H100 SXM: 2 619 MHz memory clock, 5 120-bit bus -> 3.35 TB/s
    h100 = SimpleNamespace(memory_clock_rate=2_619_000, memory_bus_width=5120)
    assert cuda.peak_bytes_per_s(h100) == pytest.approx(3.352e12, rel=1e-3)
    assert cuda.peak_bytes_per_s(SimpleNamespace(name="old torch")) is None
    assert cuda.peak_bytes_per_s(SimpleNamespace(memory_clock_rate=0, memory_bus_width=64)) is None


def test_device_implementations() -> None:
    assert cuda.device_impls(CASES["Adam"], "cuda") == [
        "ours-multi", "ours-compiled", "torch-foreach", "torch-fused",
    ]  # fmt: skip
    assert cuda.device_impls(CASES["Adadelta"], "cuda") == [
        "ours-multi", "ours-compiled", "torch-foreach",
    ]  # fmt: skip


def test_runner_times_steps_between_synchronisations(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runner's loop on the CPU (no compilation): a record per implementation, per-step
    times, the size labelled with the device type, the steps and the peak recorded; a
    round is ``steps`` calls of the step."""
    calls: list[int] = []
    real = interleave.time_round

    def counting(step, device, steps=1):  # type: ignore[no-untyped-def]
        calls.append(steps)
        return real(step, device, steps)

    monkeypatch.setattr(interleave, "time_round", counting)
    records = cuda.run_case(
        CASES["Adam"], "tiny", ["ours-multi", "torch-foreach"], 3, torch.device("cpu"),
        shapes=[(300,), (4, 5)], steps=4, peak=1e10,
    )  # fmt: skip
    assert [r["extra_info"]["impl"] for r in records] == ["ours-multi", "torch-foreach"]
    for r in records:
        assert r["extra_info"]["size"] == "cpu-tiny" and r["extra_info"]["numel"] == 320
        assert r["extra_info"]["steps"] == 4 and r["extra_info"]["peak_bytes_per_s"] == 1e10
        assert r["stats"]["rounds"] == 3 and r["stats"]["min"] > 0
    assert calls.count(4) == 2 * 3  # two implementations x three rounds of four steps
    ref = cuda.reference("tiny", 2, torch.device("cpu"), shapes=[(300,)], steps=3)
    assert ref["extra_info"]["impl"] == "reference" and ref["extra_info"]["size"] == "cpu-tiny"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer without a GPU")
def test_without_a_cuda_device_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cuda.json"
    assert cuda.main(["--json", str(out), "--cases", "Adam"]) == 0
    assert not out.exists() and "no CUDA device" in capsys.readouterr().err


def test_unknown_names_are_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cuda.main(["--cases", "Nope"]) == 2
    assert cuda.main(["--sizes", "1e9"]) == 2
    err = capsys.readouterr().err
    assert err.count("unknown") == 2 and "Traceback" not in err


def _cuda_json(path: Path, ours_ms: float) -> Path:
    """Adam on the CUDA device at 1e8 elements (28 B/element), a 4.8 TB/s peak."""
    rows = []
    for impl, ms in (("reference", 0.35), ("torch-fused", 0.70), ("torch-foreach", 0.95),
                     ("ours-compiled", ours_ms), ("ours-multi", 2.0)):  # fmt: skip
        case = "reference" if impl == "reference" else "Adam"
        rows.append({
            "extra_info": {"case": case, "size": "cuda-1e8", "impl": impl, "numel": 10**8,
                           "bytes_per_element": 12 if impl == "reference" else 28,
                           "peak_bytes_per_s": 4.8e12, "steps": 20, "device": "H200"},
            "stats": {"min": ms / 1e3, "median": ms / 1e3, "rounds": 10},
        })  # fmt: skip
    info = {"node": "gpu", "torch": "2.13.0", "device": "NVIDIA H200", "date": "2026-12-02"}
    path.write_text(json.dumps({"machine_info": info, "benchmarks": rows}))
    return path


def test_cuda_rows_in_the_table_and_the_gate(tmp_path: Path) -> None:
    """% of peak = 28 B x 1e8 / time / 4.8 TB/s; the rows have their own table and their own
    gate key, apart from the CPU's; a slower fast path fails the gate."""
    rows = summarise(load(_cuda_json(tmp_path / "a.json", 0.65)))
    (row,) = rows
    assert row.size == "cuda-1e8" and row.on_cuda and row.torch_best == "torch-fused"
    assert row.pct_peak["ours-compiled"] == pytest.approx(100 * 2.8e9 / 0.65e-3 / 4.8e12)
    assert row.pct_peak["torch-fused"] == pytest.approx(100 * 2.8e9 / 0.70e-3 / 4.8e12)
    assert row.pct_floor["ours-compiled"] == pytest.approx(100 * 0.35 * 28 / 12 / 0.65)
    text = bench.markdown(rows, info={"device": "NVIDIA H200"})
    assert "### On the CUDA device" in text and "device NVIDIA H200" in text
    assert "| Adam | 1e8 | 0.65 ms (ours-compiled) | 0.7 ms (torch-fused) | 0.93 | 90 % " in text
    assert "### At 1e7 elements" not in text  # the CPU tables hold no CUDA row
    assert gated_ratios(rows) == {
        "Adam/cuda/ours-compiled": pytest.approx(0.65 / 0.70),
        "Adam/cuda/ours-multi": pytest.approx(2.0 / 0.70),
    }
    base = tmp_path / "baseline.json"
    assert bench.main(["baseline", str(tmp_path / "a.json"), "--margin", "0.2",
                       "--out", str(base)]) == 0  # fmt: skip
    assert bench.main(["gate", str(tmp_path / "a.json"), "--baseline", str(base)]) == 0
    slow = _cuda_json(tmp_path / "b.json", 1.3)
    assert bench.main(["gate", str(slow), "--baseline", str(base)]) == 1
