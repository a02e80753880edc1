"""The registry mirrors CLAIMS.md, and every claim has a check."""

from __future__ import annotations

import re

import pytest
from conftest import CLAIMS_MD

from optverify.analytic.claims import CHECKS, CLAIMS, decide
from optverify.analytic.verdict import Context, Verdict


def _md_ids() -> dict[str, str]:
    rows = re.findall(
        r"^\| (N\d{3}\.[\w.]+) \| ([SNDEA]) \|", CLAIMS_MD.read_text(encoding="utf-8"), re.M
    )
    return dict(rows)


@pytest.mark.skipif(not CLAIMS_MD.exists(), reason="CLAIMS.md not available")
def test_registry_matches_claims_md() -> None:
    md = _md_ids()
    assert len(md) == 56
    ours = {cid: c.kind for cid, c in CLAIMS.items() if not cid.startswith("T.")}
    assert ours == md


def test_every_claim_has_a_check() -> None:
    """Fails for D/E IDs until analytic.differential / analytic.empirical exist (other work)."""
    assert sorted(set(CLAIMS) - set(CHECKS)) == []


def test_our_kinds_have_checks() -> None:
    missing = [cid for cid, c in CLAIMS.items() if c.kind in "SNAT" and cid not in CHECKS]
    assert missing == []


def test_a_raising_check_becomes_an_error_row(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx: Context) -> Verdict:
        raise RuntimeError("boom")

    monkeypatch.setitem(CHECKS, "N004.cond", boom)
    out = decide(CLAIMS["N004.cond"], Context())
    assert out.verdict == "error" and "boom" in out.summary


def test_audit_without_notes_is_not_available() -> None:
    for cid in ("N000.code.runs", "N002.code.runs", "N003.optim.list"):
        out = decide(CLAIMS[cid], Context(notes_dir=None))
        assert out.verdict == "not-available"
