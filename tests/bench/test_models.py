"""The real models' shape lists, the interleaved runner and the model gate (cheap)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optverify import bench
from tests.bench import interleave
from tests.bench.cases import CASES
from tests.bench.models import gpt2_small, numel, resnet50


def test_resnet50_shape_list() -> None:
    shapes = resnet50()
    assert len(shapes) == 161 and numel(shapes) == 25_557_032
    assert sum(1 for s in shapes if len(s) == 1) == 107  # 53 batch norms x 2, the fc bias
    assert shapes[0] == (64, 3, 7, 7) and shapes[-2] == (1000, 2048)


def test_gpt2_small_shape_list() -> None:
    shapes = gpt2_small()
    assert len(shapes) == 148 and numel(shapes) == 124_439_808
    assert shapes[:2] == [(50257, 768), (1024, 768)]


@pytest.mark.parametrize("name", ["Adam", "SparseAdam", "LBFGS", "Muon"])
def test_interleaved_runner_smoke(name: str) -> None:
    """One round of the first implementations at the smallest size: each gets a time.
    ``ours-compiled`` is left out (its compile costs 4-14 s; tests/test_fast_paths.py
    checks it)."""
    case = CASES[name]
    impls = [i for i in case.impls() if i != "ours-compiled"][:3]
    records = interleave.run_case(case, "1e4", impls, rounds=1)
    assert [r["extra_info"]["impl"] for r in records] == impls
    assert all(r["stats"]["min"] > 0 for r in records)


def test_runner_rejects_unknown_names(capsys: pytest.CaptureFixture) -> None:
    assert interleave.main(["--cases", "Nope", "--sizes", "1e4"]) == 2
    assert interleave.main(["--cases", "Adam", "--sizes", "resnet51"]) == 2
    assert "unknown" in capsys.readouterr().err


def _models_json(path: Path, slow: float = 1.0) -> Path:
    rows = []
    for size in ("resnet50", "gpt2"):
        for impl, ms in (("torch-fused", 50.0), ("torch-foreach", 80.0), ("ours-compiled", 45.0)):
            ms = ms * slow if impl.startswith("ours") and size == "resnet50" else ms
            rows.append({
                "extra_info": {"case": "Adam", "size": size, "impl": impl,
                               "bytes_per_element": 28},
                "stats": {"min": ms / 1e3, "median": ms / 1e3, "rounds": 5},
            })  # fmt: skip
    info = {"node": "box", "torch": "2.13.0", "date": "2026-12-01T09:00:00Z",
            "loadavg": ["1.0", "2.0", "3.0"], "cpus": 2}  # fmt: skip
    path.write_text(json.dumps({"machine_info": info, "benchmarks": rows}))
    return path


def test_models_are_gated_on_their_own(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = tmp_path / "baseline.json"
    assert bench.main(["baseline", str(_models_json(tmp_path / "a.json")), "--margin", "0.3",
                       "--out", str(base)]) == 0  # fmt: skip
    ratios = json.loads(base.read_text())["ratios"]
    assert ratios == {"Adam/gpt2/ours-compiled": pytest.approx(0.9),
                      "Adam/resnet50/ours-compiled": pytest.approx(0.9)}  # fmt: skip
    assert bench.main(["gate", str(_models_json(tmp_path / "b.json")), "--baseline",
                       str(base)]) == 0  # fmt: skip
    slow = _models_json(tmp_path / "c.json", slow=2.0)
    assert bench.main(["gate", str(slow), "--baseline", str(base)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION Adam/resnet50/ours-compiled" in out and "gpt2/ours" not in out


def test_baseline_update_keeps_other_keys(tmp_path: Path) -> None:
    base = tmp_path / "baseline.json"
    old = {"margin": 0.5, "justification": "kept", "runs": 5, "noise": {},
           "ratios": {"SGD/ours-multi": 0.8}, "rows": []}  # fmt: skip
    base.write_text(json.dumps(old))
    assert bench.main(["baseline", str(_models_json(tmp_path / "a.json")), "--margin", "0.5",
                       "--out", str(base), "--update"]) == 0  # fmt: skip
    data = json.loads(base.read_text())
    assert data["justification"] == "kept" and data["ratios"]["SGD/ours-multi"] == 0.8
    assert "Adam/resnet50/ours-compiled" in data["ratios"]


def test_table_names_machine_date_torch_and_models(tmp_path: Path) -> None:
    path = _models_json(tmp_path / "a.json")
    text = bench.markdown(bench.summarise(bench.load(path)), info=bench.machine_info(path))
    assert "torch 2.13.0" in text and "2026-12-01" in text and "load 1.0 2.0 3.0" in text
    assert "| Adam | resnet50 | torch-fused | ours-compiled | 0.90 |" in text
