"""Replaying a counterexample: the repro script and the function it calls.

The script that ``optverify check`` prints (and writes with ``--repro FILE``) rebuilds the
minimal problem as Python source and calls :func:`replay`, which loads the target the way
``check`` loaded it, applies the same state-layout leniency, and judges the problem with the
same comparison code (:func:`optverify.properties.conformance.judge_problem`): the script and
the check cannot drift apart. It exits 1 (``MISMATCH: ...`` on stderr) while the difference
is there and 0 once it is gone.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from optverify.check.loading import load_target, resolve_against

if TYPE_CHECKING:
    from optverify.properties.harness import Problem

__all__ = ["replay", "repro_script"]


def replay(
    target: str,
    against: str,
    problem: Problem,
    *,
    init: Mapping[str, Any] | None = None,
    pins: Mapping[str, Any] | None = None,
    ignore_state: Sequence[str] = (),
    strict: bool = False,
    device: str = "cpu",
) -> int:
    """Judge ``target`` (``path.py:Name`` or ``module:Name``) on ``problem`` against
    ``torch.optim.<against>``: 1 and the finding on stderr if it differs, else 0."""
    from optverify.check.render import divergence_line
    from optverify.properties.conformance import factory, judge_problem, modes_for
    from optverify.properties.layout import lenient, probe_layout

    loaded = load_target(target)
    spec = resolve_against(against)
    extra = dict(init or {})
    layout = probe_layout(
        loaded.cls, spec, dict(pins or {}), device, make=lambda c: factory(c, **extra)
    )
    for key in ignore_state:
        layout.hidden[key] = "ignore_state"
    cls = lenient(loaded.cls, layout) if (layout.coerce or layout.hidden) else loaded.cls
    verdict = judge_problem(
        factory(cls, **extra), spec, problem, modes=modes_for(spec, device), strict=strict
    )
    for note in verdict.notes:
        print(f"reported ({note.kind}): {divergence_line(note)}", file=sys.stderr)
    if verdict.finding is None:
        print(f"{loaded.name} agrees with torch.optim.{spec.name} on this problem")
        return 0
    print(f"MISMATCH: {divergence_line(verdict.finding)}", file=sys.stderr)
    return 1


def repro_script(
    target: str,
    against: str,
    problem: Problem,
    *,
    title: str,
    init: Mapping[str, Any] | None = None,
    pins: Mapping[str, Any] | None = None,
    ignore_state: Sequence[str] = (),
    strict: bool = False,
    seed: int | None = None,
) -> str:
    """The Python source of a script that replays ``problem`` (see the module docstring).

    ``target`` is written as given on the command line: run the script from the directory
    ``check`` ran in (paths are relative to it).
    """
    from optverify.properties.source import problem_code, value_code

    how = f" --seed {seed}" if seed is not None else ""

    def mapping(values: Mapping[str, Any] | None) -> str:
        return "{" + ", ".join(f"{k!r}: {value_code(v)}" for k, v in (values or {}).items()) + "}"

    lines = [
        f'"""Reproduces `optverify check {target} --against {against}{how}`:',
        "",
        title,
        "",
        "Run it from the directory the check ran in. Exit status 1 and MISMATCH on stderr",
        'while the difference is there; 0 once it is gone."""',
        "from math import inf, nan  # noqa: F401",
        "",
        "import torch  # noqa: F401",
        "",
        "from optverify.check.replay import replay",
        "from optverify.properties.harness import Problem",
        "",
        "# the minimal counterexample: params, param groups (indices), hyperparameters per group,",
        "# grads[k][i] = parameter i's gradient before step k (None: no gradient)",
        f"PROBLEM = {problem_code(problem)}",
        "",
        "raise SystemExit(",
        f"    replay({target!r}, {against!r}, PROBLEM, init={mapping(init)}, "
        f"pins={mapping(pins)}, ignore_state={list(ignore_state)!r}, strict={strict!r})",
        ")",
        "",
    ]
    return "\n".join(lines)
