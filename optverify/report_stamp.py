"""What a citeable report records about itself, and the notes' own words.

* :func:`stamp` — the git commit of this checkout (and whether it is dirty), the sha256 of
  every notes file read, torch / Python / platform versions, the seeds and the date.
* :func:`quote` — the lines a claim cites, read from the notes file (or, for a ``T.``
  claim, from the installed torch source) at run time.
* :func:`resolve_notes` — where the notes are: ``--notes DIR``, else ``$OPTVERIFY_NOTES``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["NotesNotFound", "note_files", "quote", "resolve_notes", "stamp"]

ROOT = Path(__file__).resolve().parents[1]
#: how many cited lines a quotation shows before it is cut (the rest is counted)
QUOTE_LINES = 14


class NotesNotFound(Exception):
    """No notes directory was given, or it lacks the note files."""


def note_files() -> dict[str, str]:
    """Note number → the file name the claims cite (``000`` → ``000_….txt``)."""
    from optverify.analytic.claims import NOTE

    return dict(NOTE)


def resolve_notes(arg: Path | None) -> tuple[Path, str]:
    """The notes directory and where it came from (``--notes`` or ``OPTVERIFY_NOTES``).

    Raises :class:`NotesNotFound` when neither names a directory holding every note file, and
    :class:`NotADirectoryError` when ``--notes`` names something that is not a directory.
    """
    if arg is not None:
        path, origin = Path(arg), "--notes"
        if not path.is_dir():
            raise NotADirectoryError(f"--notes {arg}: not a directory")
    elif os.environ.get("OPTVERIFY_NOTES"):
        path, origin = Path(os.environ["OPTVERIFY_NOTES"]), "OPTVERIFY_NOTES"
    else:
        raise NotesNotFound("not decided: notes not found; pass --notes")
    missing = [name for name in note_files().values() if not (path / name).is_file()]
    if missing:
        raise NotesNotFound(
            f"not decided: notes not found in {path} ({origin}; missing {', '.join(missing)}); "
            "pass --notes"
        )
    return path, origin


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _commit() -> dict[str, Any]:
    head = _git("rev-parse", "HEAD")
    if head is None:
        return {"commit": "unknown (not a git checkout)", "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": head, "dirty": bool(status)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stamp(notes: Path, seeds: dict[str, Any]) -> dict[str, Any]:
    """Everything needed to cite (and re-run) the report; JSON-serialisable."""
    import torch

    commit = _commit()
    files = sorted(note_files().values())
    return {
        "optverify_commit": commit["commit"],
        "optverify_dirty": commit["dirty"],
        "notes_dir": str(notes),
        "notes_sha256": {name: _sha256(notes / name) for name in files},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "seeds": seeds,
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "optverify " + " ".join(sys.argv[1:]) if sys.argv[1:] else "optverify report",
    }


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for a, b in re.findall(r"(\d+)(?:-(\d+))?", spec):
        out.append((int(a), int(b or a)))
    return out


def quote(claim: Any, notes: Path) -> tuple[str, list[tuple[int, str]], int]:
    """(source label, [(line number, text)], lines left out) for the lines ``claim`` cites.

    Note claims read ``notes/<file>``; ``T.`` claims read the installed torch source file
    (``claim.lines`` like ``rmsprop.py:55-56``). Claims citing "all code blocks" quote nothing.
    """
    if claim.id.startswith("T."):
        import torch

        out: list[tuple[int, str]] = []
        label = []
        for part in claim.lines.split(";"):
            fname, _, spec = part.strip().partition(":")
            path = Path(torch.__file__).parent / "optim" / fname
            if not path.is_file():
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            label.append(f"torch/optim/{fname}")
            for a, b in _ranges(spec):
                out += [(k, lines[k - 1]) for k in range(a, min(b, len(lines)) + 1)]
        return ", ".join(label), out[:QUOTE_LINES], max(0, len(out) - QUOTE_LINES)
    if not re.search(r"\d", claim.lines):
        return f"notes/{claim.note}", [], 0
    lines = (notes / claim.note).read_text(encoding="utf-8").splitlines()
    out = []
    for a, b in _ranges(claim.lines):
        out += [(k, lines[k - 1]) for k in range(a, min(b, len(lines)) + 1)]
    kept = [(k, t) for k, t in out if t.strip()]
    return f"notes/{claim.note}", kept[:QUOTE_LINES], max(0, len(kept) - QUOTE_LINES)
