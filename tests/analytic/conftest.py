"""Fixtures for the analytic tests: the notes (passed explicitly), cached decisions.

The notes are input: ``$OPTVERIFY_NOTES``, else ``../shared/notes`` beside the checkout (where
CI puts them). A test that needs them and cannot find them is skipped locally and **fails**
when ``CI`` is set, so that the gate never passes without deciding the notes' claims.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NOTES = Path(os.environ.get("OPTVERIFY_NOTES") or ROOT.parent / "shared" / "notes")
CLAIMS_MD = NOTES.parent / "CLAIMS.md"


def require_notes() -> Path:
    """The notes directory; skip (fail under CI) when it is absent."""
    if NOTES.is_dir() and any(NOTES.glob("000_*.txt")):
        return NOTES
    message = f"notes not found at {NOTES}: set OPTVERIFY_NOTES or put them at ../shared/notes"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def notes_dir() -> Path:
    return require_notes()


@pytest.fixture(scope="session")
def ctx(notes_dir: Path):  # type: ignore[no-untyped-def]
    from optverify.analytic.verdict import Context

    return Context(notes_dir=notes_dir)


@pytest.fixture(scope="session")
def decided(ctx):  # type: ignore[no-untyped-def]
    """Every claim decided once per session: {id: outcome}."""
    from optverify.analytic.claims import decide_all

    return {c.id: o for c, o in decide_all(ctx)}
