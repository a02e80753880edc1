r"""The sweep of a D claim: its problems, the measurement of each, and the minimal counterexample.

:func:`sweep_cases` lays out the problems along the four axes described in
:mod:`analytic.differential` (gradient magnitude, hyperparameters as the notes call them,
shared hyperparameters one at a time, learning-rate changes); :func:`measure` runs one in
lock step and measures the relative difference of the update; :func:`minimal_counterexample`
shrinks a failure to one element, a constant gradient and the fewest steps, replayable with
:func:`replay`; :func:`eps_figure` is the figure payload of an :math:`\epsilon` difference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optverify.analytic.differential_subjects import SUBJECTS, Override, Subject
from optverify.analytic.verdict import Evidence
from optverify.properties.harness import Divergence, Problem, run_lockstep, run_problem
from optverify.properties.tolerances import faithful

__all__ = [
    "FIGURE_X",
    "MAGNITUDES",
    "NORMAL_BAND",
    "ONE_PERCENT",
    "STEPS",
    "Case",
    "Outcome",
    "eps_figure",
    "first_update_reldiff",
    "fmt_magnitude",
    "hyper_text",
    "magnitude_ranges",
    "measure",
    "minimal_counterexample",
    "replay",
    "stream_problem",
    "sweep_cases",
    "tolerance",
]

#: gradient magnitudes of the sweep: 1e-12 ... 1e3, one per decade
MAGNITUDES: tuple[float, ...] = tuple(10.0**k for k in range(-12, 4))
#: "normal use": gradient elements of the notes' models (an MLP on inputs in [-1, 1], a
#: linear regression on standardised data) lie well inside this band
NORMAL_BAND = (1e-6, 1e1)
#: x axis of the figures: 61 points, 4 per decade
FIGURE_X: tuple[float, ...] = tuple(10.0 ** (-12 + k / 4) for k in range(61))
#: magnitudes at which the hyperparameter and learning-rate axes are swept
SWEEP_MAGNITUDES = (1e-3, 1.0)
STEPS = 3
ONE_PERCENT = 1e-2


def tolerance(dtype: torch.dtype) -> Any:
    """The verdict's tolerance at ``dtype``: :func:`properties.tolerances.faithful`."""
    return faithful(dtype)


# --------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True)
class Case:
    """One problem of the sweep and the axis it belongs to."""

    axis: str  # "as called" | "hyperparameter" | "lr change"
    magnitude: float
    dtype: torch.dtype
    hyper: Mapping[str, Any]
    override: Mapping[str, Any]
    lr_factor: float | None
    problem: Problem

    def describe(self) -> str:
        text = f"|g|~{self.magnitude:.0e}, {str(self.dtype).removeprefix('torch.')}"
        if self.override:
            text += ", " + ", ".join(f"{k}={v}" for k, v in self.override.items())
        if self.lr_factor is not None:
            text += f", lr x{self.lr_factor:g} before step 2"
        return text


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def stream_problem(
    magnitude: float,
    hyper: Mapping[str, Any],
    lr_factor: float | None,
    dtype: torch.dtype,
    seed: int,
    groups: int = 1,
) -> Problem:
    gen = _generator(seed)
    shapes = [(3,), (2, 2)] * groups
    params = tuple(torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes)
    grads = []
    for _ in range(STEPS):
        row = []
        for s in shapes:
            sign = torch.randint(0, 2, s, generator=gen).to(torch.float64) * 2 - 1
            size = 0.5 + torch.rand(s, generator=gen, dtype=torch.float64)
            row.append((sign * size * magnitude).to(dtype))
        grads.append(tuple(row))
    if groups == 1:
        index_groups: tuple[tuple[int, ...], ...] = (tuple(range(len(shapes))),)
        hypers: tuple[Mapping[str, Any], ...] = (dict(hyper),)
    else:
        index_groups = ((0, 1), (2, 3))
        hypers = (dict(hyper), {**hyper, "lr": 10 * hyper["lr"]})
    schedule = {}
    if lr_factor is not None:
        schedule[1] = tuple({"lr": h["lr"] * lr_factor} for h in hypers)
    return Problem(params, index_groups, hypers, tuple(grads), schedule)


def _quadratic(a: Sequence[Tensor], b: Sequence[Tensor], m: float) -> Callable[..., Tensor]:
    def objective(params: Sequence[Tensor]) -> Tensor:
        terms = [(ai * p * p / 2 + bi * p).sum() for ai, bi, p in zip(a, b, params, strict=True)]
        return torch.stack(terms).sum() * m

    return objective


def _l2_problem(
    magnitude: float,
    hyper: Mapping[str, Any],
    lr_factor: float | None,
    dtype: torch.dtype,
    seed: int,
) -> Problem:
    gen = _generator(seed)
    shapes = [(3,), (2, 2)]
    params = tuple(torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes)
    a = [(0.5 + torch.rand(s, generator=gen, dtype=torch.float64)).to(dtype) for s in shapes]
    b = [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes]
    schedule = {}
    if lr_factor is not None:
        schedule[1] = ({"lr": hyper["lr"] * lr_factor},)
    return Problem(
        params,
        ((0, 1),),
        (dict(hyper),),
        schedule=schedule,
        objective=_quadratic(a, b, magnitude),
        steps=STEPS + 1,
    )


def sweep_cases(subject: Subject, seed: int) -> list[Case]:
    cases: list[Case] = []
    k = 0

    def add(
        axis: str, m: float, override: Override, lr_factor: float | None, dtype: torch.dtype
    ) -> None:
        nonlocal k
        hyper = {**subject.base, **override}
        args = (m, hyper, lr_factor, dtype, seed * 1000 + k)
        if subject.kind == "l2":
            problem = _l2_problem(*args)
        else:
            problem = stream_problem(*args, groups=2 if subject.kind == "groups" else 1)
        cases.append(Case(axis, m, dtype, hyper, dict(override), lr_factor, problem))
        k += 1

    for dtype in (torch.float64, torch.float32):
        for m in MAGNITUDES:
            add("as called", m, {}, None, dtype)
    for m in SWEEP_MAGNITUDES:
        for override in subject.sweep:
            add("hyperparameter", m, override, None, torch.float64)
        if subject.lr_change:
            for factor in (0.1, 3.0):
                add("lr change", m, {}, factor, torch.float64)
    return cases


# --------------------------------------------------------------------------------------------
# Measuring


@dataclass(frozen=True)
class Outcome:
    case: Case
    divergence: Divergence | None
    update_rel: float  # max relative difference of theta_end - theta_0


def _update_rel(subject: Subject, problem: Problem) -> float:
    t = run_problem(subject.target, problem)
    r = run_problem(subject.reference, problem)
    worst = 0.0
    for p0, pt, pr in zip(problem.params, t.params, r.params, strict=True):
        dt = (pt.detach() - p0).to(torch.float64)
        dr = (pr.detach() - p0).to(torch.float64)
        diff = (dt - dr).abs()
        scale = torch.maximum(dt.abs(), dr.abs())
        nonzero = diff > 0
        if bool(nonzero.any()):
            rel = diff[nonzero] / scale[nonzero].clamp_min(torch.finfo(torch.float64).tiny)
            worst = max(worst, float(rel.max()))
    return worst


def measure(subject: Subject, case: Case) -> Outcome:
    div = run_lockstep(subject.target, subject.reference, case.problem, tolerance)
    return Outcome(case, div, _update_rel(subject, case.problem))


def first_update_reldiff(subject: Subject, magnitude: float) -> float:
    """Relative difference of the first update, notes' rule vs torch's, for θ₀ = 1, g = |g|.

    ``|Δ_notes − Δ_torch| / max(|Δ_notes|, |Δ_torch|)`` in float64, at the hyperparameters as
    the notes call them.
    """
    problem = Problem(
        (torch.tensor([1.0], dtype=torch.float64),),
        ((0,),),
        (dict(subject.base),),
        ((torch.tensor([magnitude], dtype=torch.float64),),),
    )
    return _update_rel(subject, problem)


def fmt_magnitude(x: float) -> str:
    return f"{x:.0e}" if x != 0 else "0"


def magnitude_ranges(values: Sequence[float], grid: Sequence[float]) -> str:
    """Contiguous runs of ``values`` on ``grid`` as "[a, b]" intervals of |g|."""
    chosen = set(values)
    runs: list[tuple[float, float]] = []
    start: float | None = None
    prev: float | None = None
    for g in grid:
        if g in chosen:
            if start is None:
                start = g
            prev = g
        elif start is not None and prev is not None:
            runs.append((start, prev))
            start = None
    if start is not None and prev is not None:
        runs.append((start, prev))
    return (
        ", ".join(
            f"[{fmt_magnitude(a)}, {fmt_magnitude(b)}]" if a != b else fmt_magnitude(a)
            for a, b in runs
        )
        or "none"
    )


def eps_figure(subject: Subject, ys: Sequence[float]) -> Evidence:
    """Figure payload: the report draws ``y`` against ``x`` (log-log) into ``filename``.

    ``data`` keys: ``filename`` (``<claim id>.png``), ``x`` (|g|), ``y`` (relative difference
    of the first update; exact agreement is a 0, which the report marks as 0 on the log axis),
    ``xlabel``, ``ylabel``, ``logx``, ``logy`` (both ``True``), and ``hlines``: reference lines
    ``[{"y": value, "label": text}]`` (the float64 faithful tolerance, 1 %). The same curves
    are also given in the generic form of ``optverify/report.py`` (``plot: "lines"``,
    ``series``, ``xscale``/``yscale: "log"``), the reference lines as constant series.
    """
    y = [float(v) for v in ys]
    tol64 = faithful(torch.float64).rtol
    x = list(FIGURE_X)
    return Evidence(
        kind="figure",
        title=(
            f"{subject.claim}: notes' rule minus torch's, relative difference of the first update"
        ),
        text=(
            f"{subject.eps}. One step from θ₀ = 1 with gradient g = |g|, float64, at the "
            f"hyperparameters as the notes call them ({hyper_text(subject.base)}). "
            "Exact agreement (a difference of 0) is marked as 0 at the foot of the log axis."
        ),
        data={
            "filename": f"{subject.claim}.png",
            "x": x,
            "y": y,
            "xlabel": "gradient magnitude |g|",
            "ylabel": "|Δθ_notes − Δθ_torch| / max(|Δθ_notes|, |Δθ_torch|)",
            "logx": True,
            "logy": True,
            "hlines": [
                {"y": tol64, "label": "float64 faithful tolerance"},
                {"y": ONE_PERCENT, "label": "1 %"},
            ],
            "plot": "lines",
            "series": [
                {"label": "notes vs torch, first update", "x": x, "y": y},
                {"label": "float64 faithful tolerance", "x": x, "y": [tol64] * len(x)},
                {"label": "1 %", "x": x, "y": [ONE_PERCENT] * len(x)},
            ],
            "xscale": "log",
            "yscale": "log",
        },
    )


def hyper_text(hyper: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in hyper.items())


# --------------------------------------------------------------------------------------------
# The minimal counterexample


def _tiny_problem(subject: Subject, case: Case, steps: int) -> Problem:
    """One 1-element parameter (θ₀ = 1), the same gradient |g| at every step."""
    dtype = case.dtype
    hyper = dict(case.hyper)
    schedule: dict[int, tuple[Mapping[str, Any], ...]] = {}
    if case.lr_factor is not None:
        schedule[1] = ({"lr": hyper["lr"] * case.lr_factor},)
    if subject.kind == "l2":
        one = torch.ones(1, dtype=dtype)
        return Problem(
            (torch.tensor([1.0], dtype=dtype),),
            ((0,),),
            (hyper,),
            schedule=schedule,
            objective=_quadratic([one], [one], case.magnitude),
            steps=steps,
        )
    if subject.kind == "groups":
        grads = tuple((torch.tensor([case.magnitude], dtype=dtype),) * 2 for _ in range(steps))
        hypers = (hyper, {**hyper, "lr": 10 * hyper["lr"]})
        if schedule:
            schedule[1] = tuple({"lr": h["lr"] * (case.lr_factor or 1.0)} for h in hypers)
        return Problem(
            (torch.tensor([1.0], dtype=dtype), torch.tensor([1.0], dtype=dtype)),
            ((0,), (1,)),
            hypers,
            grads,
            schedule,
        )
    single: tuple[Tensor | None, ...] = (torch.tensor([case.magnitude], dtype=dtype),)
    stream = tuple(single for _ in range(steps))
    return Problem((torch.tensor([1.0], dtype=dtype),), ((0,),), (hyper,), stream, schedule)


def minimal_counterexample(subject: Subject, failing: Sequence[Outcome]) -> Evidence:
    """Shrink the most telling failure to one element, a constant gradient, fewest steps."""

    def preference(o: Outcome) -> tuple[int, int, float]:
        base = 0 if o.case.axis == "as called" and o.case.dtype == torch.float64 else 1
        big = 0 if o.update_rel >= ONE_PERCENT else 1
        return (base, big, abs(math.log10(o.case.magnitude)))

    chosen = min(failing, key=preference)
    case = chosen.case
    problem: Problem = case.problem
    found: Divergence | None = chosen.divergence
    min_steps = 2 if case.lr_factor is not None else 1
    for steps in range(min_steps, STEPS + 2):
        tiny = _tiny_problem(subject, case, steps)
        div = run_lockstep(subject.target, subject.reference, tiny, tolerance)
        if div is not None:
            problem, found = tiny, div
            break
    assert found is not None
    data = {
        "claim": subject.claim,
        "target": subject.target_name,
        "reference": subject.reference_name,
        "dtype": str(case.dtype).removeprefix("torch."),
        "magnitude": case.magnitude,
        "hyper": {k: list(v) if isinstance(v, tuple) else v for k, v in case.hyper.items()},
        "lr_factor": case.lr_factor,
        "steps": problem.n_steps,
        "shapes": [list(p.shape) for p in problem.params],
        "params": [p.tolist() for p in problem.params],
        "divergence_step": found.step + 1,
        "what": found.what,
        "key": found.key,
        "max_rel": found.max_rel,
        "target_value": _as_list(found.target_value),
        "reference_value": _as_list(found.reference_value),
        "tiny": problem is not case.problem,
    }
    grads_text = (
        f"a constant gradient {case.magnitude:g}" if subject.kind != "l2"
        else f"f(w) = {case.magnitude:g}·(w²/2 + w)"
    )  # fmt: skip
    lr_text = (
        f", lr multiplied by {case.lr_factor:g} before step 2" if case.lr_factor is not None else ""
    )
    text = (
        f"{data['shapes']} parameter(s) {data['params']} ({data['dtype']}), {grads_text}, "
        f"{hyper_text(case.hyper)}{lr_text}: at step {found.step + 1} {found.what}"
        f"{'' if found.key is None else ' ' + repr(found.key)} differs — "
        f"{subject.target_name} gives {data['target_value']}, {subject.reference_name} gives "
        f"{data['reference_value']} (relative difference {found.max_rel:.3g})."
    )
    return Evidence(kind="counterexample", title="minimal counterexample", text=text, data=data)


def _as_list(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.to(torch.float64).tolist()
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    return value


def replay(data: Mapping[str, Any]) -> Divergence | None:
    """Re-run a counterexample from its evidence ``data`` (as :func:`minimal_counterexample`
    wrote it)."""
    subject = SUBJECTS[data["claim"]]
    dtype = getattr(torch, data["dtype"])
    hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in data["hyper"].items()}
    placeholder = Problem((torch.ones(1, dtype=dtype),), ((0,),), (hyper,), ((None,),))
    case = Case("replay", data["magnitude"], dtype, hyper, {}, data["lr_factor"], placeholder)
    if not data["tiny"]:
        raise ValueError("only shrunk counterexamples can be replayed")
    problem = _tiny_problem(subject, case, data["steps"])
    return run_lockstep(subject.target, subject.reference, problem, tolerance)
