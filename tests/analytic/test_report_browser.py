"""The HTML report in a real headless browser: every in-page anchor resolves; screenshots.

Uses an installed Chromium (Debian: ``apt-get install chromium``) and skips, with that
reason, when there is none. With ``OPTVERIFY_REPORT=DIR`` (what ``nox -s report`` sets) it
checks that full report and writes ``DIR/screenshots/``; otherwise it builds a small report
of its own (the N004.g… claims).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from optverify import report
from optverify.report_browser import check_anchors, find_chromium, screenshot

pytestmark = pytest.mark.skipif(
    find_chromium() is None, reason="no Chromium installed (apt-get install chromium)"
)


@pytest.fixture(scope="module")
def html(notes_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("OPTVERIFY_REPORT")
    if given:
        return Path(given) / "index.html"
    out = tmp_path_factory.mktemp("report")
    p = argparse.ArgumentParser()
    report.register(p.add_subparsers())
    args = p.parse_args(["report", "--out", str(out), "--only", "N004.g", "--notes",
                         str(notes_dir), "--jobs", "1"])  # fmt: skip
    assert args.func(args) == 0
    return out / "index.html"


def test_every_claim_anchor_resolves(html: Path) -> None:
    text = html.read_text(encoding="utf-8")
    claims = text.count('<section class="claim" id="')
    checked, bad = check_anchors(html)
    assert bad == []
    assert checked >= claims + 1 > 1  # every claim, plus the index / glossary links


def test_a_missing_anchor_is_reported(html: Path, tmp_path: Path) -> None:
    text = html.read_text(encoding="utf-8")
    broken = tmp_path / "index.html"
    broken.write_text(text.replace('id="N004.gd.maxlr"', 'id="gone"', 1), encoding="utf-8")
    _, bad = check_anchors(broken)
    assert [b[0] for b in bad] == ["N004.gd.maxlr"]


def test_screenshots(html: Path) -> None:
    shots = html.parent / "screenshots"
    claim = "N004.gd.maxlr"
    for png in (screenshot(html, shots / "index.png"),
                screenshot(html, shots / f"{claim}.png", claim)):  # fmt: skip
        assert png.stat().st_size > 10_000  # a rendered page, not an empty canvas
