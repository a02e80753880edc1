"""The claims/report subcommands, called in process: notes as input, selection, the report."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from optverify import report


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    report.register(p.add_subparsers())
    return p.parse_args(list(argv))


def test_claims_json(notes_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("claims", "--format", "json", "--only", "N003.lr", "--notes", str(notes_dir))
    assert args.func(args) == 0
    out = capsys.readouterr()
    rows = json.loads(out.out)
    assert {r["id"] for r in rows} == {"N003.lr.diverge", "N003.lr.onestep", "N003.lr.range"}
    for r in rows:
        assert {"id", "kind", "verdict", "condition", "outside", "evidence"} <= set(r)
    assert f"notes {notes_dir} (from --notes)" in out.err
    assert len(re.findall(r"^\[ ?\d+/3\] N003\.lr\.", out.err, re.M)) == 3  # progress


def test_claims_text_one_claim(notes_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("claims", "--only", "N004.cond", "--notes", str(notes_dir), "--jobs", "1")
    assert args.func(args) == 0
    assert "N004.cond" in capsys.readouterr().out


def test_notes_from_environment(
    notes_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPTVERIFY_NOTES", str(notes_dir))
    args = _parse("claims", "--only", "N004.cond")
    assert args.func(args) == 0
    assert "(from OPTVERIFY_NOTES)" in capsys.readouterr().err


def test_no_notes_is_not_decided(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPTVERIFY_NOTES", raising=False)
    for argv in (("claims",), ("report", "--out", "unused")):
        args = _parse(*argv)
        assert args.func(args) == 1
        err = capsys.readouterr().err
        assert err.strip().endswith("not decided: notes not found; pass --notes")
        assert err.count("\n") == 1


def test_notes_dir_without_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("claims", "--notes", str(tmp_path))
    assert args.func(args) == 1
    err = capsys.readouterr().err
    assert "not decided: notes not found in" in err and err.count("\n") == 1


def test_bad_notes_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("claims", "--notes", str(tmp_path / "missing"))
    assert args.func(args) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_only_matching_nothing(notes_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse("claims", "--only", "N999", "--notes", str(notes_dir))
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "N999" in err and "Traceback" not in err


def test_report_is_stamped_and_anchored(notes_dir: Path, tmp_path: Path) -> None:
    args = _parse("report", "--out", str(tmp_path), "--only", "N004.g", "--notes", str(notes_dir))
    assert args.func(args) == 0
    md = (tmp_path / "claims.md").read_text(encoding="utf-8")
    data = json.loads((tmp_path / "claims.json").read_text(encoding="utf-8"))
    stamp = data["stamp"]
    assert re.fullmatch(r"[0-9a-f]{40}|unknown.*", stamp["optverify_commit"])
    assert stamp["torch"].startswith("2.13") and stamp["python"] and stamp["platform"]
    assert stamp["seeds"] and stamp["date"]
    assert set(stamp["notes_sha256"]) == {p.name for p in notes_dir.glob("00?_*.txt")}
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in stamp["notes_sha256"].values())
    assert stamp["optverify_commit"] in md and all(v in md for v in stamp["notes_sha256"].values())
    assert '<a id="N004.gd.traj"></a>' in md
    assert "optverify claims --only N004.gd.traj" in md
    # the note's own sentence, read from the notes file (line 581 holds the printed trace)
    assert "epoch 20, x1 -0.387814, x2 -1673.365109" in md
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert 'id="N004.gd.maxlr"' in html and 'href="#N004.gd.maxlr"' in html
    assert "data:image/png;base64," in html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing fetched
    assert (tmp_path / "N004_gd_traj.png").is_file()
    assert "## Glossary" in md and "faithful tolerance" in md


def test_report_unwritable_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    args = _parse("report", "--out", str(blocker / "sub"))
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
