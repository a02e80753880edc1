"""The outcome of deciding one claim: a verdict, its exact condition, and the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Context", "Evidence", "Verdict", "VerdictKind"]

VerdictKind = Literal["holds", "fails", "holds-if"]


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence a reader can check.

    ``kind`` says how to render it: ``text`` (a sentence), ``sympy`` (an expression or
    identity in LaTeX, with its plain-text form), ``table`` (``columns`` + ``rows``, e.g.
    printed vs recomputed digits), ``counterexample`` (a minimal failing input),
    ``figure`` (the file name of a PNG written by the report), ``numbers`` (a mapping).
    """

    kind: str
    title: str
    text: str = ""
    latex: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """``holds``, ``fails``, or ``holds-if`` with the exact ``condition`` under which it holds."""

    verdict: VerdictKind
    summary: str
    condition: str = ""
    evidence: tuple[Evidence, ...] = ()

    def __post_init__(self) -> None:
        if self.verdict not in ("holds", "fails", "holds-if"):
            raise ValueError(f"unknown verdict {self.verdict!r}")
        if self.verdict == "holds-if" and not self.condition:
            raise ValueError("a holds-if verdict needs its condition")


@dataclass(frozen=True)
class Context:
    """What a check may use: where the notes are (``None`` when not available)."""

    notes_dir: Path | None = None
    seed: int = 0
