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


def _notes_present() -> bool:
    return NOTES.is_dir() and any(NOTES.glob("000_*.txt"))


def require_notes() -> Path:
    """The notes directory; skip (fail under CI) when it is absent."""
    if _notes_present():
        return NOTES
    message = f"notes not found at {NOTES}: set OPTVERIFY_NOTES or put them at ../shared/notes"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def have_notes() -> bool:
    """Whether the notes are there (for tests that can also run without them)."""
    return _notes_present()


@pytest.fixture(scope="session")
def notes_dir() -> Path:
    return require_notes()


@pytest.fixture(scope="session")
def ctx(notes_dir: Path):  # type: ignore[no-untyped-def]
    from optverify.analytic.verdict import Context

    return Context(notes_dir=notes_dir)


def once_per_run(tmp_path_factory: pytest.TempPathFactory, name: str, compute):  # type: ignore[no-untyped-def]
    """``compute()`` once for the whole test run, even across xdist workers: the first
    worker to get here computes and pickles the result into the run's shared temporary
    directory (under an exclusive lock); the others wait for it and load it. Without xdist
    it is simply computed."""
    import fcntl
    import pickle

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return compute()
    shared = tmp_path_factory.getbasetemp().parent
    path = shared / f"{name}.pickle"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = compute()
        path.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def decided(ctx, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Every claim decided once per test run (shared by the xdist workers): {id: outcome}."""
    from optverify.analytic.claims import decide_all

    return once_per_run(
        tmp_path_factory, "decided-claims", lambda: {c.id: o for c, o in decide_all(ctx)}
    )
