r"""The outcome of deciding one claim: a verdict, its exact condition, and the evidence.

The rule every check applies (all 64 claims: the 56 of the catalogue and the 8 ``T.``):

1. **Read the claim with the premises its note states.** What the note itself says about
   its symbols (γ a positive number below 1, η constant, α as the note sets it, t counted
   from 1, …) is part of the claim, not a condition on it. Where the note's wording differs
   from the catalogue's (the note writes β ≤ 1 where the catalogue says β < 1), the note's
   wording is decided and the check quotes it in its evidence.
2. ``holds`` — under those premises a computation shows the claim: a sympy identity or limit
   that is exactly zero / equal, recomputed digits that equal the printed ones, a
   differential sweep with no disagreement, an empirical effect with the claimed sign in
   every seed and a mean above the stated margin.
3. ``fails`` — under those premises a computation contradicts the claim: a concrete
   counterexample (exact rationals, a replayable optimiser run, a recomputed digit that
   differs) is part of the evidence. "sympy could not simplify" is never a disproof and
   never a proof either: an undecided sympy result makes the check fall back on an explicit
   argument or report ``fails`` with the expression it could not settle.
4. ``holds-if`` — the claim holds only under a condition the note does **not** state. The
   verdict names the condition (``condition``) and the evidence contains a computed case
   outside it where the claim fails (``Verdict.outside``, a short description of that case).
   A condition the note states is never a ``holds-if``.

Every check reads what it compares with through :meth:`Context.given`, with the note's
values as defaults, so that a test can hand it a perturbed input (a wrong interval, a sign
flip, another β) and see the verdict change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["Context", "Evidence", "Verdict", "VerdictKind"]

VerdictKind = Literal["holds", "fails", "holds-if"]


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence a reader can check.

    ``kind`` says how to render it: ``text`` (a sentence), ``sympy`` (an expression or
    identity in LaTeX and presentation MathML, with its plain-text form), ``table``
    (``columns`` + ``rows``, e.g. printed vs recomputed digits), ``counterexample`` (a
    minimal failing input), ``figure`` (the file name of a PNG written by the report),
    ``numbers`` (a mapping).
    """

    kind: str
    title: str
    text: str = ""
    latex: str = ""
    mathml: str = ""
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """``holds``, ``fails``, or ``holds-if`` with the exact ``condition`` under which it holds.

    A ``holds-if`` also carries ``outside``: the computed case outside the condition where
    the claim fails (rule 4 of the module docstring).
    """

    verdict: VerdictKind
    summary: str
    condition: str = ""
    evidence: tuple[Evidence, ...] = ()
    outside: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in ("holds", "fails", "holds-if"):
            raise ValueError(f"unknown verdict {self.verdict!r}")
        if self.verdict == "holds-if" and not (self.condition and self.outside):
            raise ValueError("a holds-if verdict needs its condition and a case outside it")


@dataclass(frozen=True)
class Context:
    """What a check may use: where the notes are, the seed, and perturbed inputs.

    ``given`` maps input names of a check to replacement values; checks read their inputs
    through :meth:`given` with the note's values as defaults. The command line never sets it;
    the tests do, to show that each check's verdict follows its input.
    """

    notes_dir: Path | None = None
    seed: int = 0
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def given(self, name: str, default: Any) -> Any:
        """The input ``name``: the perturbed value when a test set one, else ``default``."""
        return self.inputs.get(name, default)
