"""The claim type and the check registry: what a claim is and which check decides it.

A :class:`Claim` carries its metadata (ID, kind, note file, line range, statement) in code,
so the registry works without ``CLAIMS.md``. The checks live in the topic modules; each
exposes ``CHECKS: dict[str, Callable[[Context], Verdict]]`` keyed by claim ID and
:data:`CHECKS` collects them. The rows themselves are in
:mod:`analytic.claim_rows_000_002` and :mod:`analytic.claim_rows_003_004_torch`;
:mod:`analytic.claims` decides them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from optverify.analytic.verdict import Context, Evidence, Verdict

__all__ = ["CHECKS", "NOTE", "Check", "Claim", "Outcome", "Undecided", "note_claim"]

Check = Callable[[Context], Verdict]

NOTE = {
    "000": "000_4553c4c6d47e08e5.txt",
    "001": "001_5d5832c955028860.txt",
    "002": "002_59f95b2438e61cce.txt",
    "003": "003_0f0b2f05897dc972.txt",
    "004": "004_2b399d6be3e5d837.txt",
}

#: topic modules that contribute ``CHECKS``; the last two belong to the D/E work and are
#: imported only when present.
TOPIC_MODULES = (
    "optverify.analytic.basics",
    "optverify.analytic.momentum",
    "optverify.analytic.learning_rate",
    "optverify.analytic.ema",
    "optverify.analytic.adaptive",
    "optverify.analytic.word2vec",
    "optverify.analytic.numbers",
    "optverify.analytic.audit",
    "optverify.analytic.torch_docs",
)
OPTIONAL_MODULES = ("optverify.analytic.differential", "optverify.analytic.empirical")


@dataclass(frozen=True)
class Undecided:
    """A row whose check could not decide: it raised (``error``) or lacks its input."""

    verdict: Literal["error", "not-available"]
    summary: str
    condition: str = ""
    evidence: tuple[Evidence, ...] = ()


Outcome = Verdict | Undecided


@dataclass(frozen=True)
class Claim:
    """One checkable statement: where the notes make it, what it says, and its check."""

    id: str
    kind: str  # S N D E A T
    note: str  # note file name (or the torch source file for T claims)
    lines: str  # 1-based line range(s) in ``note``
    statement: str  # in our own English words

    def check(self, ctx: Context) -> Verdict:
        """Decide the claim; raises ``LookupError`` when no check is registered."""
        fn = CHECKS.get(self.id)
        if fn is None:
            raise LookupError(f"no check registered for {self.id}")
        return fn(ctx)


def note_claim(cid: str, kind: str, lines: str, statement: str, note: str | None = None) -> Claim:
    """A claim of note ``cid[1:4]`` (or of ``note``, a torch source file for T claims)."""
    return Claim(cid, kind, note or NOTE[cid[1:4]], lines, statement)


def _collect_checks() -> dict[str, Check]:
    checks: dict[str, Check] = {}
    for name in TOPIC_MODULES + OPTIONAL_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if name in OPTIONAL_MODULES and exc.name == name:
                continue
            raise
        checks.update(getattr(module, "CHECKS", {}))
    return checks


CHECKS: dict[str, Check] = _collect_checks()
