"""Small helpers shared by the topic modules: building evidence and deciding sympy zeros.

Rule 12 of STYLE.md: a claim's maths is an expression that must be identically zero; we
``expand``/``cancel`` before ``simplify`` and treat a non-zero ``simplify`` result as
"not shown", never as a disproof (a disproof is always a concrete counterexample).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import sympy as sp

from optverify.analytic.verdict import Context, Evidence

__all__ = [
    "NotesUnavailable",
    "is_zero",
    "note_lines",
    "numbers",
    "symbolic",
    "table",
    "text",
]


class NotesUnavailable(Exception):
    """Raised by audit checks when the notes directory is not available."""


def is_zero(expr: sp.Expr) -> bool:
    """True when ``expr`` is provably identically zero (expand, cancel, then simplify)."""
    e = sp.expand(expr)
    if e == 0:
        return True
    e = sp.cancel(e)
    if e == 0:
        return True
    return bool(sp.simplify(e) == 0)


def symbolic(title: str, expr: Any, text: str = "") -> Evidence:
    """Evidence holding a sympy expression (or relation) in LaTeX and plain text."""
    try:
        mathml = sp.mathml(expr, printer="presentation")
    except Exception:  # some objects (sets, relations of sets) have no MathML form
        mathml = ""
    return Evidence(
        kind="sympy",
        title=title,
        latex=sp.latex(expr),
        mathml=mathml,
        text=text or sp.sstr(expr),
    )


def table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], text: str = ""
) -> Evidence:
    """A table of plain values (printed vs recomputed, or a classification)."""
    return Evidence(
        kind="table",
        title=title,
        text=text,
        columns=tuple(columns),
        rows=tuple(tuple(r) for r in rows),
    )


def text(title: str, body: str) -> Evidence:
    """A sentence of evidence."""
    return Evidence(kind="text", title=title, text=body)


def numbers(title: str, mapping: dict[str, Any], body: str = "") -> Evidence:
    """A mapping of named numbers."""
    return Evidence(kind="numbers", title=title, text=body, data=dict(mapping))


def note_lines(ctx: Context, note: str) -> list[str]:
    """The lines of one note file (index 0 = line 1); raises ``NotesUnavailable``."""
    if ctx.notes_dir is None:
        raise NotesUnavailable("notes not available")
    path = Path(ctx.notes_dir)
    matches = sorted(path.glob(f"{note}*.txt")) if path.is_dir() else []
    if not matches:
        raise NotesUnavailable(f"notes not available (no {note}*.txt in {path})")
    return matches[0].read_text(encoding="utf-8").splitlines()
