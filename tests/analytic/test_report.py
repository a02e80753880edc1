"""The claims/report subcommands, called in process."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from optverify import report


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    report.register(p.add_subparsers())
    return p.parse_args(list(argv))


def test_claims_json(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("claims", "--format", "json", "--only", "N003")
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} >= {"N003.lr.diverge", "N003.lr.range"}
    for r in rows:
        assert {"id", "kind", "verdict", "condition", "evidence"} <= set(r)


def test_claims_text(capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("claims", "--only", "N004.cond")
    assert args.func(args) == 0
    assert "N004.cond" in capsys.readouterr().out


def test_report_writes_markdown_json_and_figures(tmp_path: Path) -> None:
    args = _parse("report", "--out", str(tmp_path), "--only", "N004")
    assert args.func(args) == 0
    md = (tmp_path / "claims.md").read_text(encoding="utf-8")
    assert '<a id="N004.gd.traj"></a>' in md and "torch 2.13" in md
    data = json.loads((tmp_path / "claims.json").read_text(encoding="utf-8"))
    assert data["stamp"]["torch"].startswith("2.13")
    pngs = {p.name for p in tmp_path.glob("*.png")}
    assert {"N004_gd_traj.png", "stable_region_004.png"} <= pngs


def test_report_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = _parse("report", "--out", str(blocker / "sub"))
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_notes_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("claims", "--notes", str(tmp_path / "missing"))
    assert args.func(args) == 2
