"""The cross-framework table: classification, rows and rendering."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from optverify.frameworks import (
    KNOWN,
    Finding,
    Row,
    classify,
    compute_row,
    render_json,
    render_markdown,
)
from optverify.properties.harness import Divergence


def _d(what: str, target: object = None, reference: object = None, rel: float = math.nan) -> Any:
    return Divergence(0, what, "", max_rel=rel, target_value=target, reference_value=reference)


def test_classes() -> None:
    inf, one = torch.tensor([math.inf]), torch.tensor([1.0])
    assert classify(_d("constructor")) == "validation"
    assert classify(_d("exception")) == "validation"
    assert classify(_d("state", inf, one)) == "overflow"
    assert classify(_d("param", one, torch.tensor([math.nan]))) == "non-finite kind"
    assert classify(_d("param", one, one * 1.1, rel=0.09)) == "mismatch"
    assert classify(_d("param", one, one, rel=1e-9)) == "precision"


def test_every_known_difference_cites_a_library_source() -> None:
    for target, known in KNOWN.items():
        assert target.startswith(("optax:", "keras:"))
        for k in known:
            assert k.id.startswith("XF.") and ":" in k.source and k.source[:5] in ("optax", "Keras")


def test_rendering_round_trips() -> None:
    rows = [
        Row("optax:sgd", "SGD", "conforms", examples=5, pinned={"maximize": False}),
        Row(
            "optax:rmsprop", "RMSprop", "differs",
            findings=[Finding("mismatch", "float64, step 1, {}", "d", "optverify check ...")],
            known=list(KNOWN["optax:rmsprop"]),
        ),
    ]  # fmt: skip
    md = render_markdown(rows)
    assert "| `optax:rmsprop` | `torch.optim.RMSprop` | differs | mismatch |" in md
    assert "XF.optax.rmsprop.eps" in md and "pinned maximize=False" in md
    data = json.loads(json.dumps(render_json(rows)))
    assert [r["verdict"] for r in data["frameworks"]] == ["conforms", "differs"]


def test_compute_row_finds_the_rmsprop_difference_and_passes_sgd() -> None:
    pytest.importorskip("optax", reason="needs the jax extra: pip install 'optverify[jax]'")
    differs = compute_row(
        "optax:rmsprop", max_examples=8, seed=0, dtypes=[torch.float64], shrink=False
    )
    assert differs.verdict == "differs" and differs.findings
    # seed 0 draws a subnormal lr with an infinite gradient: XLA flushes the lr to zero
    # (test_optax.py::test_a_subnormal_lr_is_flushed_to_zero), a real difference
    conforms = compute_row("optax:sgd", max_examples=8, seed=1, dtypes=[torch.float64])
    assert conforms.verdict == "conforms", conforms.findings


def test_a_missing_library_is_a_row_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from optverify.adapters import load_adapter

    monkeypatch.setitem(sys.modules, "keras", None)
    load_adapter.cache_clear()
    row = compute_row("keras:Adam", max_examples=1)
    load_adapter.cache_clear()
    assert row.verdict.startswith("not run: keras:Adam needs the keras extra")


def test_report_frameworks_writes_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``optverify report --frameworks --out DIR`` writes frameworks.md and .json."""
    pytest.importorskip("optax", reason="needs the jax extra: pip install 'optverify[jax]'")
    import optverify.frameworks as frameworks
    from optverify.cli import main

    monkeypatch.setattr(frameworks, "default_targets", lambda: ["optax:sgd", "optax:rmsprop"])
    code = main(["report", "--frameworks", "--out", str(tmp_path), "--max-examples", "4"])
    assert code == 0
    md = (tmp_path / "frameworks.md").read_text()
    assert "`optax:sgd`" in md and "`optax:rmsprop`" in md
    rows = json.loads((tmp_path / "frameworks.json").read_text())["frameworks"]
    assert [r["target"] for r in rows] == ["optax:sgd", "optax:rmsprop"]
    assert "optax:rmsprop" in capsys.readouterr().err
    assert main(["report", "--frameworks", "--out", str(tmp_path), "--max-examples", "0"]) == 2
