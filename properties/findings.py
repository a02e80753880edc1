"""The verdict model's findings: the kinds of difference, one classified difference, a verdict.

Findings (:data:`FAILING` fail a check; the others are reported):

* ``mismatch`` — finite where torch is finite, farther from the maths than the budget;
  non-finite values in other places than torch's (moved, not made); finite where the exact
  maths and torch are not (a non-finite input lost); ``p.grad`` modified by ``step()``; or
  another number of closure evaluations;
* ``overflow`` — non-finite where every torch implementation is finite, or finite (and not
  within budget of the maths) where every one is non-finite but the maths is finite;
* ``non-finite kind`` — NaN where torch has ±inf, or the other sign of inf, in a parameter
  (in a state entry alone it is reported, and fails only when ``strict``);
* ``validation`` — raises where torch does not, or the reverse, or another exception type;
* ``non-finite hyperparameter`` — any of the above on a problem with a NaN/inf
  hyperparameter torch failed to reject (fails only when ``strict``);
* ``state layout`` — a state entry of another shape or type than torch's (compared where
  possible, else left out);
* ``precision`` — not bit for bit with any torch implementation but within budget.

How a value is judged is :mod:`optverify.properties.verdict`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from optverify.properties.harness import Located, Problem

__all__ = [
    "FAILING",
    "KINDS",
    "Finding",
    "Verdict",
    "exception_kind",
    "nonfinite_hyperparameters",
]

KINDS = (
    "mismatch",
    "overflow",
    "non-finite kind",
    "validation",
    "non-finite hyperparameter",
    "state layout",
    "precision",
)
FAILING = frozenset({"mismatch", "overflow", "non-finite kind", "validation"})


@dataclass(frozen=True)
class Finding(Located):
    """One difference between a target and torch, classified.

    ``step`` is 0-based (``-1``: the constructor); ``what`` is ``param``, ``state``,
    ``constructor``, ``exception``, ``grad modified``, ``loss`` or ``closure calls``. Errors
    are in units of roundoff of the value's dtype times the scale of the computation:
    ``target_ulps`` the target's worst, ``torch_ulps`` torch's worst at that element and
    ``budget_ulps`` what was allowed there. ``max_abs``/``max_rel`` compare the target with
    torch's for-loop (relative to the scale). The other keyword fields are
    :class:`~optverify.properties.harness.Located`'s.
    """

    kind: str
    step: int
    what: str
    detail: str
    target_ulps: float = math.nan
    torch_ulps: float = math.nan
    budget_ulps: float = math.nan
    cause: str | None = None
    mode: str | None = None
    oracle_value: Any = None
    #: reported, not failing (unless strict): a non-finite kind difference in state only
    reported_only: bool = False

    def fails(self, strict: bool = False) -> bool:
        if self.reported_only and not strict:
            return False
        return self.kind in FAILING or (strict and self.kind == "non-finite hyperparameter")

    def __str__(self) -> str:
        text = f"{self.kind}: {self._location(self.step)} {self.what}: {self.detail}"
        if not math.isnan(self.target_ulps):
            text += (
                f" (error against the exact maths: target {_ulps(self.target_ulps)}, torch "
                f"{_ulps(self.torch_ulps)}, allowed {_ulps(self.budget_ulps)})"
            )
        if self.cause:
            text += f"; likely cause: {self.cause}"
        return text


def _ulps(x: float) -> str:
    if math.isinf(x):
        return "inf"
    return f"{x:.3g} ulp" if x < 1e6 else f"{x:.2e} ulp"


@dataclass
class Verdict:
    """The first failing finding (``None``: conforms) and the reported ones."""

    finding: Finding | None = None
    notes: list[Finding] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        return self.finding is None


def nonfinite_hyperparameters(problem: Problem) -> list[str]:
    """Names of hyperparameters (in any group or scheduled change) that are NaN or ±inf."""
    found: list[str] = []
    rows = list(problem.hyper) + [h for row in problem.schedule.values() for h in row]
    for hyper in rows:
        for key, value in hyper.items():
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                number: float | None = None
                if isinstance(v, float):
                    number = v
                elif isinstance(v, Tensor) and v.numel() == 1 and not v.is_complex():
                    number = float(v.item())
                if number is not None and not math.isfinite(number) and key not in found:
                    found.append(key)
    return found


def exception_kind(problem: Problem) -> str:
    """The kind of a difference in raising: ``validation``, or ``non-finite hyperparameter``
    on a problem with a NaN/inf hyperparameter."""
    return "non-finite hyperparameter" if nonfinite_hyperparameters(problem) else "validation"
