"""Fixtures for the analytic tests: the repository on sys.path, the notes, cached decisions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NOTES = ROOT.parent / "shared" / "notes"
CLAIMS_MD = ROOT.parent / "shared" / "CLAIMS.md"


@pytest.fixture(scope="session")
def ctx():  # type: ignore[no-untyped-def]
    from analytic.verdict import Context

    return Context(notes_dir=NOTES if NOTES.is_dir() else None)


@pytest.fixture(scope="session")
def decided(ctx):  # type: ignore[no-untyped-def]
    """Every claim decided once per session: {id: outcome}."""
    from analytic.claims import decide_all

    return {c.id: o for c, o in decide_all(ctx)}
