"""What a conformance check tells: the minimal counterexample of a failure, the summary of a pass.

:class:`NonConformance` carries the classified finding, the problem and a line that
reproduces it; :func:`describe_failure` renders the counterexample (the problem, the
hyperparameters, the elements where the target is farthest from torch beside the exact
maths); :class:`Summary` is what a conforming run covered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from optverify.properties.capabilities import Spec
from optverify.properties.findings import Finding
from optverify.properties.harness import Problem
from optverify.properties.layout import Layout
from optverify.properties.source import hyper_code, value_code
from optverify.properties.targets import mode_kwargs

__all__ = [
    "NonConformance",
    "Summary",
    "describe_failure",
    "find_nonconformance",
    "reproducible",
]


class NonConformance(AssertionError):
    """The target behaves differently from torch; the message is the minimal counterexample.

    ``finding`` is the classified :class:`~optverify.properties.verdict.Finding`
    (``divergence`` is the same object, under its older name).
    """

    def __init__(
        self,
        message: str,
        problem: Problem | None = None,
        finding: Finding | None = None,
        mode: str | None = None,
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.finding = finding
        #: the failure did not repeat when Hypothesis replayed it (a non-deterministic target)
        self.unreliable = False
        self.divergence = finding
        self.mode = mode
        self.examples_passed = 0
        self.layout: Layout | None = None


@dataclass(frozen=True)
class Summary:
    """What a conforming run covered."""

    target: str
    against: str
    examples: int
    varied: tuple[str, ...]
    pinned: Mapping[str, Any]
    modes: tuple[str, ...]
    device: str
    seed: int
    #: problems of the validation sweep (:func:`~optverify.properties.coverage.edge_problems`),
    #: beyond ``examples``
    edge_cases: int = 0
    dtypes: tuple[str, ...] = ()
    #: examples where the target was within budget but not bit for bit with torch
    precision_examples: int = 0
    #: the reported (non-failing) findings: the worst of each kind
    notes: tuple[Finding, ...] = ()
    layout: Layout | None = field(default=None, compare=False)

    def __str__(self) -> str:
        edges = f" + {self.edge_cases} edge values" if self.edge_cases else ""
        text = (
            f"{self.target} conforms to torch.optim.{self.against} on {self.device}: "
            f"{self.examples} examples{edges}, modes {', '.join(self.modes)}, "
            f"varied {', '.join(self.varied) or 'nothing'}, seed {self.seed}"
        )
        for note in self.notes:
            text += f"\n  note ({note.kind}): {note}"
        return text


def find_nonconformance(error: BaseException) -> NonConformance | None:
    """The :class:`NonConformance` in ``error`` or in the exception groups it wraps."""
    if isinstance(error, NonConformance):
        return error
    for inner in getattr(error, "exceptions", ()) or ():
        found = find_nonconformance(inner)
        if found is not None:
            return found
    return None


def _side_by_side(finding: Finding, limit: int = 8) -> list[str]:
    """The elements where the target is farthest from torch: target, torch, exact maths."""
    t, r, o = finding.target_value, finding.reference_value, finding.oracle_value
    if not (isinstance(t, Tensor) and isinstance(r, Tensor)) or t.shape != r.shape:
        return []
    a, b = t.detach().reshape(-1).cpu(), r.detach().reshape(-1).cpu()
    c = o.detach().reshape(-1).cpu() if isinstance(o, Tensor) and o.shape == t.shape else None
    if a.numel() <= limit:
        order = list(range(a.numel()))
    else:
        x, y = a.to(torch.complex128), b.to(torch.complex128)
        gap = torch.nan_to_num((x - y).abs(), nan=float("inf"))
        gap[(x.isnan() & y.isnan()) | (x == y)] = -1.0
        order = sorted(gap.topk(limit).indices.tolist())
    lines = [f"  elements {order if a.numel() > limit else 'all'} (of {a.numel()}):"]
    lines.append(f"    target:     {[a[i].item() for i in order]}")
    lines.append(f"    torch:      {[b[i].item() for i in order]}")
    if c is not None and c.dtype != a.dtype:
        lines.append(f"    exact maths: {[c[i].item() for i in order]}")
    return lines


def describe_failure(target_name: str, spec: Spec, problem: Problem, finding: Finding) -> str:
    """The human-readable minimal counterexample."""
    kwargs = ", ".join(f"{k}={v}" for k, v in mode_kwargs(spec, finding.mode or "forloop").items())
    ref = f"torch.optim.{spec.name}({kwargs})"
    lines = [
        f"{target_name} does not conform to {ref}: {finding.kind}",
        f"  at {finding}",
        f"  {problem.describe()}",
    ]
    for j, h in enumerate(problem.hyper):
        lines.append(f"  group {j} hyperparameters: {hyper_code(h)} (params {problem.groups[j]})")
    for k, changes in problem.schedule.items():
        lines.append(f"  before step {k + 1}: set {', '.join(hyper_code(c) for c in changes)}")
    lines += _side_by_side(finding)
    return "\n".join(lines)


def reproducible(
    failure: NonConformance,
    target_name: str,
    against: str,
    seed: int,
    *,
    options: Mapping[str, Any],
    pins: Mapping[str, Any],
    examples_passed: int,
    layout: Layout | None,
) -> NonConformance:
    """``failure`` restated with the call that reproduces it: ``assert_conforms(target,
    against, seed=...)`` with the given ``options`` (``max_examples``, ``dtypes``: where not
    ``None``; ``sparse``, ``layouts``: where off) and ``pins``."""
    call = f"assert_conforms({target_name}, {against!r}, seed={seed}"
    if options.get("max_examples") is not None:
        call += f", max_examples={options['max_examples']}"
    dtypes: Sequence[torch.dtype] | None = options.get("dtypes")
    if dtypes is not None:
        call += f", dtypes=[{', '.join(map(str, dtypes))}]"
    for option in ("sparse", "layouts"):
        if not options.get(option, True):
            call += f", {option}=False"
    call += "".join(f", {k}={value_code(v)}" for k, v in pins.items()) + ")"
    unreliable = getattr(failure, "unreliable", False)
    again = (
        "\n  note: the failure did not repeat when rerun: the target is not deterministic"
        if unreliable else ""
    )  # fmt: skip
    error = NonConformance(
        f"{failure}{again}\n  reproduce: {call}", failure.problem, failure.finding,
        failure.mode,
    )  # fmt: skip
    error.unreliable = unreliable
    error.examples_passed = examples_passed
    error.layout = layout
    return error
