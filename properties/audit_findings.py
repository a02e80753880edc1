"""The records of ``optverify audit-torch``: one finding (:class:`AuditFinding`, with its repro
script), one optimiser × implementation run (:class:`AuditRun`) and the whole audit
(:class:`AuditReport`), each with its JSON form.

A finding's ``features`` name what its minimal (shrunk) problem needs: a non-contiguous
parameter, a sparse or missing gradient, an empty parameter, a non-finite gradient, a
half-precision or complex dtype. With the optimiser, the implementation and the class they
say which defect it is, so the same defect is recognised across torch releases
(:mod:`optverify.history`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from optverify.properties.audit_compat import implementation_kwargs
from optverify.properties.harness import Problem
from optverify.properties.source import problem_code
from optverify.properties.specs import SPECS, Spec
from optverify.properties.verdict import Finding

__all__ = ["AuditFinding", "AuditReport", "AuditRun", "features"]


def features(problem: Problem, finding: Finding, dtype: str) -> list[str]:
    """What the minimal problem of a finding needs, as short tags (sorted)."""
    tags: set[str] = set()
    if any(problem.layouts):
        tags.add("non-contiguous")
    grads = [g for row in problem.grads for g in row]
    if any(g is None for g in grads):
        tags.add("missing gradient")
    dense = [g for g in grads if g is not None and not g.is_sparse]
    if len(dense) < len([g for g in grads if g is not None]):
        tags.add("sparse gradient")
    if any(p.numel() == 0 for p in problem.params):
        tags.add("empty parameter")
    if any(not bool(torch.isfinite(g).all()) for g in dense if g.numel()):
        tags.add("non-finite gradient")
    if dtype in ("float16", "bfloat16"):
        tags.add("half precision")
    elif dtype.startswith("complex"):
        tags.add("complex")
    if finding.what in ("constructor", "exception"):
        tags.add("raises")
    return sorted(tags)


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass(frozen=True)
class AuditFinding:
    """One disagreement among torch's implementations, on its minimal problem."""

    optimizer: str
    implementation: str
    against: str
    dtype: str
    kind: str
    finding: Finding
    problem: Problem
    seed: int
    device: str
    torch: str = torch.__version__

    @property
    def summary(self) -> str:
        return str(self.finding)

    @property
    def file_name(self) -> str:
        kind = self.kind.replace(" ", "_")
        return f"{self.optimizer}_{self.implementation}_{self.dtype}_{kind}.py"

    def script(self) -> str:
        """A Python script that rebuilds the problem and exits 1 while the defect is there."""
        spec = SPECS[self.optimizer]
        what = f"torch.optim.{self.optimizer}({_kwargs(spec, self.implementation)})"
        other = f"torch.optim.{self.optimizer}({_kwargs(spec, self.against)})"
        body = problem_code(self.problem)
        return (
            f'"""{what} against {other}: {self.kind} ({self.dtype}, {self.device}).\n\n'
            f"Found by `optverify audit-torch` on torch {self.torch} (seed {self.seed}):\n"
            f"{self.summary}\n\n"
            "Runs both implementations (and the float64 oracle) on the minimal problem, prints\n"
            "their values side by side; exits 1 while the defect is there, 0 once it is gone.\n"
            '"""\n'
            "import sys\n"
            "from math import inf, nan  # noqa: F401\n\n"
            "import torch\n\n"
            "from optverify.properties.audit import reproduce\n"
            "from optverify.properties.harness import Problem\n\n"
            f"problem = {body}\n\n"
            'if __name__ == "__main__":\n'
            f"    sys.exit(reproduce({self.optimizer!r}, {self.implementation!r}, "
            f"{self.kind!r}, problem, device={self.device!r}))\n"
        )

    def to_json(self) -> dict[str, Any]:
        f = self.finding

        def number(x: float) -> float | None:
            return None if math.isnan(x) else (x if math.isfinite(x) else float("inf"))

        return {
            "optimizer": self.optimizer,
            "implementation": self.implementation,
            "against": self.against,
            "dtype": self.dtype,
            "class": self.kind,
            "summary": self.summary,
            "step": f.step + 1 if f.step >= 0 else 0,
            "what": f.what,
            "param": f.param,
            "key": f.key,
            "target_ulps": number(f.target_ulps),
            "torch_ulps": number(f.torch_ulps),
            "budget_ulps": number(f.budget_ulps),
            "cause": f.cause,
            "problem": self.problem.describe(),
            "features": features(self.problem, f, self.dtype),
            "reference_raised": isinstance(f.reference_value, BaseException),
            "repro": self.script(),
            "repro_file": self.file_name,
            "seed": self.seed,
            "device": self.device,
            "torch": self.torch,
        }


def _kwargs(spec: Spec, mode: str) -> str:
    return ", ".join(f"{k}={v}" for k, v in implementation_kwargs(spec, mode).items())


@dataclass
class AuditRun:
    """One optimiser × implementation: what was drawn, refused and found."""

    optimizer: str
    implementation: str
    examples: int = 0
    seconds: float = 0.0
    dtypes: tuple[str, ...] = ()
    #: dtype -> why the implementation refuses it (a restriction, not a finding)
    unsupported: dict[str, str] = field(default_factory=dict)
    findings: int = 0
    #: why nothing was judged (one implementation; ``skipped: ...`` where this torch lacks
    #: the optimiser or the implementation, or it refuses every dtype)
    note: str = ""
    #: hyperparameter (or ``tensor lr``) -> why this torch's implementation is audited
    #: without it
    flags_skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class AuditReport:
    """The whole audit: every run and every finding, with the settings that drew them."""

    runs: list[AuditRun]
    findings: list[AuditFinding]
    seed: int
    max_examples: int
    device: str
    seconds: float
    torch: str = torch.__version__

    def to_json(self) -> dict[str, Any]:
        return {
            "torch": self.torch,
            "device": self.device,
            "seed": self.seed,
            "max_examples": self.max_examples,
            "seconds": round(self.seconds, 2),
            "runs": [vars(r) for r in self.runs],
            "findings": [f.to_json() for f in self.findings],
        }
