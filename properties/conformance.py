"""The differential property, usable outside pytest: "this class behaves like torch.optim.X".

>>> from properties.conformance import assert_conforms
>>> assert_conforms(MyAdam, "Adam", max_examples=200, eps=1e-8)  # doctest: +SKIP

Hypothesis draws whole problems (parameters, groups, gradient streams, hyperparameter
changes); each is run in lock step against every implementation torch has for the
optimiser on the device (for-loop, foreach, fused), and the first divergence fails the
example. Hypothesis then shrinks it, and :class:`NonConformance` states the minimal
counterexample and the seed that reproduces it.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from torch import Tensor
from torch.optim import Optimizer

from properties import tolerances
from properties.generation import reproducible_generation
from properties.harness import Divergence, OptimizerFactory, Problem, run_lockstep
from properties.specs import MODES, SPECS, ProblemBuilder, Spec
from properties.strategies import problems

__all__ = [
    "NonConformance",
    "Summary",
    "accepted_hyperparameters",
    "assert_conforms",
    "check_problem",
    "factory",
    "problem_code",
    "resolve_spec",
    "torch_modes_disagree",
]

Tolerance = Literal["exact", "faithful"]


class NonConformance(AssertionError):
    """The target behaves differently from torch; the message is the minimal counterexample."""

    def __init__(
        self,
        message: str,
        problem: Problem | None = None,
        divergence: Divergence | None = None,
        mode: str | None = None,
    ) -> None:
        super().__init__(message)
        self.problem = problem
        self.divergence = divergence
        self.mode = mode


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
    #: problems of the validation sweep (:func:`edge_problems`), beyond ``examples``
    edge_cases: int = 0

    def __str__(self) -> str:
        edges = f" + {self.edge_cases} edge values" if self.edge_cases else ""
        return (
            f"{self.target} conforms to torch.optim.{self.against} on {self.device}: "
            f"{self.examples} examples{edges}, modes {', '.join(self.modes)}, "
            f"varied {', '.join(self.varied) or 'nothing'}, seed {self.seed}"
        )


def resolve_spec(against: str) -> Spec:
    """The spec for ``"Adam"`` or ``"torch.optim.Adam"``; ``KeyError`` listing valid names."""
    name = against.removeprefix("torch.optim.")
    if name not in SPECS:
        raise KeyError(f"unknown optimiser {against!r}; valid: {', '.join(sorted(SPECS))}")
    return SPECS[name]


def accepted_hyperparameters(cls: type) -> set[str] | None:
    """Keyword names ``cls``'s constructor accepts (``None``: it takes ``**kwargs``)."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {n for n in params if n != "params"}


def factory(cls: type[Optimizer], **fixed: Any) -> OptimizerFactory:
    """Build ``cls(groups, **first_group_hyper, **fixed)``: the first group gives the defaults."""

    def make(groups: list[dict[str, Any]]) -> Optimizer:
        first = {k: v for k, v in groups[0].items() if k != "params"}
        return cls(groups, **{**first, **fixed})

    return make


def modes_for(spec: Spec, device: str) -> tuple[str, ...]:
    """torch's implementations of ``spec`` on ``device``."""
    return spec.modes


def mode_kwargs(spec: Spec, mode: str) -> dict[str, Any]:
    """Constructor arguments selecting ``mode`` (none where torch has a single path)."""
    accepted = accepted_hyperparameters(spec.reference)
    return {k: v for k, v in MODES[mode].items() if accepted is None or k in accepted}


def _tolerance(mode: str, tolerance: Tolerance, name: str) -> Any:
    if mode == "forloop" and tolerance == "exact":
        return lambda dtype: tolerances.exact(dtype, name)
    return tolerances.faithful


def check_problem(
    target: type[Optimizer],
    spec: Spec,
    problem: Problem,
    *,
    modes: Sequence[str],
    tolerance: Tolerance = "faithful",
) -> tuple[str, Divergence] | None:
    """Run ``problem`` against each mode of torch; the first ``(mode, divergence)`` or ``None``.

    A non-for-loop mode is not held against the target on an input where torch's own
    implementations disagree: where it refuses what the for-loop path takes (e.g. a tensor lr
    with ``foreach=True``), or where it differs from the for-loop path beyond the faithful
    tolerance (those inputs are recorded as torch's own discrepancies in the test suite).
    """
    # long runs compare every tenth step (and the last): a difference that appears stays
    check_every = 10 if problem.n_steps > 50 else 1
    for mode in modes:
        reference = factory(spec.reference, **mode_kwargs(spec, mode))
        found = run_lockstep(
            factory(target), reference, problem, _tolerance(mode, tolerance, spec.name),
            check_every=check_every,
        )  # fmt: skip
        if found is None:
            continue
        if mode != "forloop" and torch_modes_disagree(spec, problem, mode):
            continue
        return mode, found
    return None


def torch_modes_disagree(spec: Spec, problem: Problem, mode: str) -> Divergence | None:
    """Where torch's ``mode`` implementation departs from its own for-loop path on ``problem``."""
    return run_lockstep(
        factory(spec.reference, **mode_kwargs(spec, mode)),
        factory(spec.reference, **mode_kwargs(spec, "forloop")),
        problem,
        tolerances.faithful,
    )


def _fmt_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def tensor_code(t: Tensor) -> str:
    """Python source that rebuilds ``t`` exactly (``nan``/``inf`` from ``math``)."""
    dtype = str(t.dtype)
    if t.is_complex():
        real = tensor_code(t.real.to(torch.float64))
        imag = tensor_code(t.imag.to(torch.float64))
        return f"torch.complex({real}, {imag}).to({dtype})"

    def nested(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(nested(x) for x in v) + "]"
        return _fmt_float(float(v))

    values = nested(t.detach().cpu().to(torch.float64).tolist())
    device = "" if t.device.type == "cpu" else f", device={str(t.device)!r}"
    return f"torch.tensor({values}, dtype={dtype}{device})"


def value_code(v: Any) -> str:
    """Python source for a hyperparameter value."""
    if isinstance(v, Tensor):
        return tensor_code(v)
    if isinstance(v, float):
        return _fmt_float(v)
    if isinstance(v, tuple):
        inner = ", ".join(value_code(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return repr(v)


def hyper_code(hyper: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k!r}: {value_code(v)}" for k, v in hyper.items()) + "}"


def problem_code(problem: Problem) -> str:
    """Python source (with ``from math import inf, nan``) that rebuilds ``problem``."""
    lines = ["Problem("]
    lines.append("    params=(" + "".join(f"\n        {tensor_code(p)}," for p in problem.params))
    lines.append("    ),")
    lines.append(f"    groups={problem.groups!r},")
    lines.append("    hyper=(" + "".join(f"\n        {hyper_code(h)}," for h in problem.hyper))
    lines.append("    ),")
    lines.append("    grads=(")
    for row in problem.grads:
        cells = ", ".join("None" if g is None else tensor_code(g) for g in row)
        lines.append(f"        ({cells},),")
    lines.append("    ),")
    if problem.schedule:
        items = ", ".join(
            f"{k}: (" + "".join(hyper_code(h) + ", " for h in changes) + ")"
            for k, changes in problem.schedule.items()
        )
        lines.append(f"    schedule={{{items}}},")
    if problem.named:
        lines.append("    named=True,")
    if problem.steps is not None:
        lines.append(f"    steps={problem.steps},")
    if problem.reload_at is not None:
        lines.append(f"    reload_at={problem.reload_at},")
    lines.append(")")
    return "\n".join(lines)


def describe_failure(
    target: type, spec: Spec, problem: Problem, mode: str, divergence: Divergence
) -> str:
    """The human-readable minimal counterexample."""
    kwargs = ", ".join(f"{k}={v}" for k, v in mode_kwargs(spec, mode).items())
    ref = f"torch.optim.{spec.name}({kwargs})"
    lines = [
        f"{target.__name__} does not conform to {ref}",
        f"  at {divergence}",
        f"  {problem.describe()}",
    ]
    for j, h in enumerate(problem.hyper):
        lines.append(f"  group {j} hyperparameters: {hyper_code(h)} (params {problem.groups[j]})")
    for k, changes in problem.schedule.items():
        lines.append(f"  before step {k + 1}: set {', '.join(hyper_code(c) for c in changes)}")
    if divergence.target_value is not None and isinstance(divergence.target_value, Tensor):
        lines.append(f"  target:    {divergence.target_value.tolist()}")
        lines.append(f"  reference: {divergence.reference_value.tolist()}")
    return "\n".join(lines)


@st.composite
def _sometimes_invalid(
    draw: st.DrawFn, base: st.SearchStrategy[Problem], spec: Spec, pinned: frozenset[str]
) -> Problem:
    """``base``'s problem; in about one in five, one first-group hyperparameter out of range."""
    problem = draw(base)
    keys = sorted(k for k in spec.invalid if k in problem.hyper[0] and k not in pinned)
    if not keys or draw(st.integers(0, 4)) != 4:  # shrinks towards a valid problem
        return problem
    key = draw(st.sampled_from(keys))
    first = {**problem.hyper[0], key: draw(spec.invalid[key])}
    return replace(problem, hyper=(first, *problem.hyper[1:]))


# Every edge a constructor's range check can get wrong: signs, zero of both signs, the unit
# boundary of decay rates, and the non-finite values.
_EDGE_VALUES = (-1.0, -1e-8, -0.0, 0.0, 1.0, 1.5, 2.0, math.nan, math.inf, -math.inf)


def edge_problems(spec: Spec, problem: Problem, pinned: frozenset[str]) -> list[Problem]:
    """``problem`` with one first-group hyperparameter (of those ``spec.invalid`` names, not
    pinned) at a time set to each of :data:`_EDGE_VALUES`; in a pair, one component at a time.

    Run after the drawn examples, they make the validation check independent of luck: a
    constructor that accepts, say, a negative learning rate torch rejects is always caught.
    """
    first = problem.hyper[0]
    found: list[Problem] = []
    for key in sorted(k for k in spec.invalid if k in first and k not in pinned):
        value = first[key]
        if isinstance(value, bool):
            continue
        if isinstance(value, tuple):
            candidates: list[Any] = [
                tuple(edge if j == i else v for j, v in enumerate(value))
                for i in range(len(value))
                for edge in _EDGE_VALUES
            ]
        else:
            candidates = list(_EDGE_VALUES)
        found += [
            replace(problem, hyper=({**first, key: c}, *problem.hyper[1:])) for c in candidates
        ]
    return found


def assert_conforms(
    target: type[Optimizer],
    against: str,
    *,
    max_examples: int | None = None,
    seed: int | None = None,
    device: str = "cpu",
    dtypes: Sequence[torch.dtype] | None = None,
    tolerance: Tolerance = "faithful",
    shrink: bool = True,
    validation: bool = False,
    around_example: Callable[[Problem], AbstractContextManager[Any]] | None = None,
    problem_builder: ProblemBuilder | None = None,
    **pins: Any,
) -> Summary:
    """Assert that ``target`` behaves like ``torch.optim.<against>`` on drawn problems.

    Varies only the hyperparameters both constructors accept; ``pins`` fix values (and must
    be accepted by torch's constructor). Raises :class:`NonConformance` with the minimal
    counterexample and a reproducing seed; returns a :class:`Summary` when it conforms.
    ``tolerance="exact"`` demands bit-for-bit agreement with the for-loop path (the contract
    of this package's own optimisers); other modes are always compared faithfully.
    ``shrink=False`` stops at the first counterexample instead of minimising it.
    ``validation=True`` also gives, in about one example in five, one varied hyperparameter of
    the first group a value from outside the valid range (``Spec.invalid``), and after the
    drawn examples sweeps each such hyperparameter of the first example through fixed edge
    values (:func:`edge_problems`), so that a constructor that accepts what torch rejects (or
    the other way round) fails. The seed means the same in every process
    (:mod:`properties.generation`).
    ``around_example(problem)``, when given, is a context manager entered around each
    example's check (``optverify check`` uses it for progress and a per-example deadline);
    a :class:`NonConformance` of the example passes through it.
    ``problem_builder`` replaces the strategy of problems (default: ``Spec.problems``, else
    :func:`properties.strategies.problems`), e.g. sparse-gradient problems for SGD.
    """
    spec = resolve_spec(against)
    reference_names = accepted_hyperparameters(spec.reference) or set()
    unknown = sorted(set(pins) - reference_names)
    if unknown:
        raise ValueError(
            f"torch.optim.{spec.name} takes no hyperparameter {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(sorted(reference_names - {'foreach', 'fused'}))}"
        )
    accepted = accepted_hyperparameters(target)
    seed = random.getrandbits(32) if seed is None else seed
    modes = modes_for(spec, device)
    chosen_dtypes = tuple(dtypes) if dtypes is not None else (torch.float64, torch.float32)
    varied: set[str] = set()

    def hyper() -> Any:
        def restrict(drawn: dict[str, Any]) -> dict[str, Any]:
            keep = {
                k: v for k, v in drawn.items()
                if k not in pins and (accepted is None or k in accepted)
            }  # fmt: skip
            varied.update(keep)
            return {**keep, **pins}

        return spec.hyper().map(restrict)

    examples = 0
    # Faithful comparisons hold on the domain where reordered arithmetic can agree: squares
    # of gradients normal and finite. Exact mode (our own classes) takes the whole range.
    builder = problem_builder or spec.problems or problems
    strategy = builder(
        hyper, dtypes=chosen_dtypes, device=device, schedulable=spec.schedulable,
        finite_squares=tolerance == "faithful", param_shapes=spec.param_shapes,
    )  # fmt: skip
    if validation:
        strategy = _sometimes_invalid(strategy, spec, frozenset(pins))

    @settings(
        max_examples=max_examples if max_examples is not None else settings().max_examples,
        database=None,
        deadline=None,
        derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate]
        + ([Phase.target, Phase.shrink] if shrink else []),
    )
    @hypothesis_seed(seed)
    @given(problem=strategy)
    def conforms(problem: Problem) -> None:
        nonlocal examples
        examples += 1
        if not first_problem:
            first_problem.append(problem)
        check_one(problem)

    def check_one(problem: Problem) -> None:
        with around_example(problem) if around_example is not None else nullcontext():
            found = check_problem(target, spec, problem, modes=modes, tolerance=tolerance)
            if found is not None:
                mode, divergence = found
                message = describe_failure(target, spec, problem, mode, divergence)
                raise NonConformance(message, problem, divergence, mode)

    first_problem: list[Problem] = []
    edge_cases = 0
    try:
        with reproducible_generation():
            conforms()
        if validation and first_problem:
            for problem in edge_problems(spec, first_problem[0], frozenset(pins)):
                edge_cases += 1
                check_one(problem)
    except NonConformance as failure:
        call = f"assert_conforms({target.__name__}, {spec.name!r}, seed={seed}"
        if max_examples is not None:
            call += f", max_examples={max_examples}"
        call += "".join(f", {k}={value_code(v)}" for k, v in pins.items()) + ")"
        raise NonConformance(
            f"{failure}\n  reproduce: {call}", failure.problem, failure.divergence, failure.mode
        ) from None
    return Summary(
        target.__name__, spec.name, examples, tuple(sorted(varied)), dict(pins), modes, device,
        seed, edge_cases,
    )  # fmt: skip
