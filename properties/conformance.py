"""The differential property, usable outside pytest: "this class behaves like torch.optim.X".

>>> from optverify.properties.conformance import assert_conforms
>>> assert_conforms(MyAdam, "Adam", max_examples=200, eps=1e-8)  # doctest: +SKIP

Hypothesis draws whole problems (parameters of every dtype torch's class takes, shapes from
0-d and empty to beyond a SIMD vector, non-contiguous views, param groups, gradient streams
from tiny to the overflow band of g², hyperparameter changes between steps, checkpoints
reloaded mid-run); each is run by the target, by every implementation torch has for the
optimiser on the device (for-loop, foreach, fused) and, where needed, by a float64 oracle,
and judged by the verdict model (:mod:`optverify.properties.verdict`). Hypothesis shrinks a
failing example within its class of finding, and :class:`NonConformance` states the minimal
counterexample and the seed that reproduces it.

This module runs the property; what it draws is :mod:`optverify.properties.coverage`'s, how
the target and torch's implementations are built :mod:`optverify.properties.targets`', and
how a failure or a pass is told :mod:`optverify.properties.counterexample`'s. Their public
names are importable from here too.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, Literal, cast

import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.database import ExampleDatabase
from hypothesis.errors import FlakyFailure
from torch import Tensor
from torch.optim import Optimizer

from optverify.properties import tolerances
from optverify.properties.capabilities import ProblemBuilder, Spec
from optverify.properties.counterexample import (
    NonConformance,
    Summary,
    describe_failure,
    find_nonconformance,
    reproducible,
)
from optverify.properties.coverage import edge_problems, problem_strategy, sometimes_invalid
from optverify.properties.findings import Finding, Verdict, exception_kind
from optverify.properties.generation import reproducible_generation
from optverify.properties.harness import Divergence, OptimizerFactory, Problem, run_lockstep
from optverify.properties.layout import MODE_FLAGS, Layout, lenient, probe_layout
from optverify.properties.source import hyper_code, problem_code, tensor_code, value_code
from optverify.properties.targets import (
    TargetUsageError,
    accepted_hyperparameters,
    check_constructs,
    default_dtypes,
    factory,
    mode_kwargs,
    modes_for,
    resolve_spec,
    target_domain,
)
from optverify.properties.trajectory import Trajectory, needs_oracle, oracle_problem, record
from optverify.properties.verdict import judge

__all__ = [
    "NonConformance",
    "Summary",
    "TargetUsageError",
    "accepted_hyperparameters",
    "assert_conforms",
    "check_problem",
    "default_dtypes",
    "describe_failure",
    "edge_problems",
    "factory",
    "find_nonconformance",
    "hyper_code",
    "judge_problem",
    "mode_kwargs",
    "modes_for",
    "problem_code",
    "problem_strategy",
    "resolve_spec",
    "target_domain",
    "tensor_code",
    "torch_modes_disagree",
    "using_database",
    "value_code",
]

Tolerance = Literal["exact", "faithful"]

#: the example database of the enclosing :func:`using_database` block (default: none)
_DATABASE: ContextVar[ExampleDatabase | None] = ContextVar("optverify_database", default=None)


@contextmanager
def using_database(database: ExampleDatabase | None) -> Iterator[None]:
    """Within the block, :func:`assert_conforms` calls given no ``database`` use this one."""
    token = _DATABASE.set(database)
    try:
        yield
    finally:
        _DATABASE.reset(token)


def _oracle_thunk(spec: Spec, problem: Problem) -> Callable[[], Any]:
    def run() -> Any:
        if problem.objective is not None or not needs_oracle(problem):
            return None
        return record(factory(spec.reference, **mode_kwargs(spec, "forloop")),
                      oracle_problem(problem))  # fmt: skip

    return run


def _perturbed_thunk(spec: Spec, problem: Problem) -> Callable[[], list[Trajectory]]:
    """torch's for-loop nudged by an ulp a step: once on the parameters, once on each
    floating-point state entry (each on its own, so that no two nudges cancel)."""

    def run() -> list[Trajectory]:
        make = factory(spec.reference, **mode_kwargs(spec, "forloop"))
        first = record(make, problem, nudge="param")
        keys: set[str] = set()
        for snap in first.snapshots.values():
            for entry in snap.state:
                keys.update(
                    k for k, v in entry.items()
                    if k != "step" and isinstance(v, Tensor)
                    and (v.is_floating_point() or v.is_complex())
                )  # fmt: skip
        return [first, *(record(make, problem, nudge=k) for k in sorted(keys))]

    return run


def judge_problem(
    target: OptimizerFactory,
    spec: Spec,
    problem: Problem,
    *,
    modes: Sequence[str],
    tolerance: Tolerance = "faithful",
    strict: bool = False,
) -> Verdict:
    """The verdict on ``target`` for one problem.

    ``faithful``: the verdict model against every mode of torch in ``modes`` (and the oracle
    where needed). ``exact``: bit for bit against torch's for-loop (this package's contract
    for its own classes), compared in lock step.
    """
    if tolerance == "exact":
        reference = factory(spec.reference, **mode_kwargs(spec, "forloop"))
        found = run_lockstep(target, reference, problem, lambda d: tolerances.exact(d, spec.name))
        return Verdict(None if found is None else _from_divergence(found, problem))
    target_run = record(target, problem, watch_grads=True)
    references = {
        mode: record(factory(spec.reference, **mode_kwargs(spec, mode)), problem) for mode in modes
    }
    return judge(
        problem, target_run, references, _oracle_thunk(spec, problem), strict=strict,
        perturbed=_perturbed_thunk(spec, problem),
    )  # fmt: skip


def _from_divergence(d: Divergence, problem: Problem) -> Finding:
    kind = exception_kind(problem) if d.what in ("constructor", "exception") else "mismatch"
    return Finding(
        kind, d.step, d.what, f"{d.detail} (exact mode: bit for bit with torch's for-loop)",
        param=d.param, key=d.key, max_abs=d.max_abs, max_rel=d.max_rel, mode="forloop",
        target_value=d.target_value, reference_value=d.reference_value,
    )  # fmt: skip


def check_problem(
    target: type[Optimizer],
    spec: Spec,
    problem: Problem,
    *,
    modes: Sequence[str],
    tolerance: Tolerance = "faithful",
) -> Finding | None:
    """The first failing finding of ``target`` on ``problem`` (``None``: it conforms)."""
    return judge_problem(factory(target), spec, problem, modes=modes, tolerance=tolerance).finding


def torch_modes_disagree(spec: Spec, problem: Problem, mode: str) -> Finding | None:
    """Where torch's ``mode`` implementation departs from the maths beyond the budget that
    its own for-loop sets (the verdict model, torch against itself)."""
    return judge_problem(
        factory(spec.reference, **mode_kwargs(spec, mode)), spec, problem, modes=["forloop"]
    ).finding


def assert_conforms(
    target: Callable[..., Optimizer],
    against: str,
    *,
    max_examples: int | None = None,
    seed: int | None = None,
    device: str = "cpu",
    dtypes: Sequence[torch.dtype] | None = None,
    tolerance: Tolerance = "faithful",
    shrink: bool = True,
    validation: bool = False,
    strict: bool = False,
    ignore_state: Sequence[str] = (),
    init: Mapping[str, Any] | None = None,
    database: Any = None,
    sparse: bool = True,
    layouts: bool = True,
    around_example: Callable[[Problem], AbstractContextManager[Any]] | None = None,
    around_probe: Callable[[Problem], AbstractContextManager[Any]] | None = None,
    problem_builder: ProblemBuilder | None = None,
    **pins: Any,
) -> Summary:
    """Assert that ``target`` behaves like ``torch.optim.<against>`` on drawn problems.

    ``target`` is an optimiser class, or a factory ``f(params, **hyper)`` returning one.
    Varies only the hyperparameters both constructors accept; ``pins`` fix values (and must
    be accepted by torch's constructor); ``init`` passes constructor arguments to the target
    only (ones torch does not take). Raises :class:`NonConformance` with the minimal
    counterexample and a reproducing seed; returns a :class:`Summary` when it conforms.

    Default coverage is everything torch's class takes: every dtype
    (:func:`default_dtypes`), sparse gradients where supported, shapes from 0-d and empty to
    ~1 000 elements across SIMD boundaries, non-contiguous parameters, mixed dtypes in a
    group, and the overflow band of g² (``dtypes`` narrows the dtypes).
    ``tolerance="exact"`` demands bit-for-bit agreement with the for-loop path (the contract
    of this package's own optimisers). ``strict`` fails on differences that show only with a
    NaN/inf hyperparameter torch does not reject. ``ignore_state`` names state keys not to
    compare; a key the target keeps as a number where torch keeps a tensor (an ``int``
    step) is compared by value. ``shrink=False`` stops at the first counterexample.
    ``validation=True`` also draws out-of-range hyperparameters and sweeps each varied one
    through fixed edge values (:func:`edge_problems`); without it, a constructor that accepts
    what torch rejects is reported, not failed. ``sparse=False`` leaves out sparse
    gradients (for a target that does not take them); ``layouts=False`` only contiguous
    parameters; a target class can declare what it does not take (:func:`target_domain`).
    ``database`` is a Hypothesis example database (default: that of an enclosing
    :func:`using_database` block, else none): stored failures for this target, reference,
    dtypes, pins and options are replayed first, and a new failure is saved there.
    ``around_example(problem)`` is entered around each example's check (deadline,
    progress), ``around_probe(problem)`` around the layout probe's runs (default:
    ``around_example``). The seed means the same in every
    process (:mod:`optverify.properties.generation`).
    """
    __tracebackhide__ = True
    spec = resolve_spec(against)
    reference_names = accepted_hyperparameters(spec.reference) or set()
    unknown = sorted(set(pins) - reference_names)
    if unknown:
        raise ValueError(
            f"torch.optim.{spec.name} takes no hyperparameter {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(sorted(reference_names - MODE_FLAGS))}"
        )
    name = getattr(target, "__name__", type(target).__name__)
    accepted = accepted_hyperparameters(target)
    extra = dict(init or {})
    seed = random.getrandbits(32) if seed is None else seed
    modes = modes_for(spec, device)
    domain_dtypes, domain_sparse, _ = target_domain(target, spec)
    chosen_dtypes = tuple(dtypes) if dtypes is not None else domain_dtypes
    sparse = sparse and domain_sparse
    exact = tolerance == "exact"
    make_target = factory(target, **extra)
    cls: Callable[..., Optimizer] = target
    layout: Layout | None = None
    if not exact:
        check_constructs(make_target, spec, name, device)
        layout = probe_layout(
            cast(type, target), spec, pins, device, around_probe or around_example,
            make=lambda c: factory(c, **extra),
        )  # fmt: skip
        for key in ignore_state:
            layout.hidden[key] = "ignore_state"
            layout.notes.append(f"state[{key!r}] not compared: ignored on request")
        if layout.coerce or layout.hidden:
            cls = lenient(target, layout)  # type: ignore[arg-type]
            make_target = factory(cls, **extra)
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
    strategy = problem_strategy(
        spec,
        hyper,
        chosen_dtypes,
        device,
        exact=exact,
        problem_builder=problem_builder,
        sparse=sparse,
        layouts=layouts,
    )
    if validation:
        strategy = sometimes_invalid(strategy, spec, frozenset(pins))
    first_kind: list[str] = []
    precision: list[int] = [0]
    notes: dict[str, Finding] = {}

    @settings(
        max_examples=max_examples if max_examples is not None else settings().max_examples,
        database=database if database is not None else _DATABASE.get(),
        deadline=None,
        derandomize=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much],
        print_blob=False,
        report_multiple_bugs=False,
        phases=[Phase.explicit, Phase.reuse, Phase.generate]
        + ([Phase.target, Phase.shrink] if shrink else []),
    )  # fmt: skip
    @hypothesis_seed(seed)
    @given(problem=strategy)
    def conforms(problem: Problem) -> None:
        nonlocal examples
        examples += 1
        if not first_problem:
            first_problem.append(problem)
        check_one(problem)

    # one database key per target, reference, dtypes, pins and options (not one for all)
    conforms.hypothesis.inner_test._hypothesis_internal_add_digest = repr(  # type: ignore[attr-defined]
        (getattr(target, "__module__", ""), getattr(target, "__qualname__", name), spec.name,
         [str(d) for d in chosen_dtypes], device, tolerance, validation,
         sorted((k, value_code(v)) for k, v in pins.items()))
    ).encode()  # fmt: skip

    def check_one(problem: Problem) -> None:
        with around_example(problem) if around_example is not None else nullcontext():
            verdict = judge_problem(
                make_target, spec, problem, modes=modes, tolerance=tolerance, strict=strict
            )
            for note in verdict.notes:
                old = notes.get(note.kind)
                if old is None or note.target_ulps > old.target_ulps:
                    notes[note.kind] = note
            if any(n.kind == "precision" for n in verdict.notes):
                precision[0] += 1
            found = verdict.finding
            if found is None:
                return
            if (
                not validation and found.kind == "validation" and found.what == "constructor"
                and found.target_value is None
            ):  # fmt: skip
                # without the validation check, accepting what torch rejects is reported only
                notes.setdefault("validation", found)
                return
            # shrinking keeps the class of the first failure: a real bug never shrinks into
            # a rounding note or into another kind of finding
            if first_kind and found.kind != first_kind[0]:
                return
            first_kind[:1] = [found.kind]
            raise NonConformance(
                describe_failure(name, spec, problem, found), problem, found, found.mode
            )

    first_problem: list[Problem] = []
    edge_cases = 0
    try:
        with reproducible_generation():
            try:
                conforms()
            except (FlakyFailure, BaseExceptionGroup) as flaky:
                # a target whose failure did not repeat on Hypothesis's replay (state kept
                # between calls): the failure it showed is still the finding
                inner = find_nonconformance(flaky)
                if inner is None:
                    raise
                inner.unreliable = True
                raise inner from None
        if validation and first_problem:
            for problem in edge_problems(spec, first_problem[0], frozenset(pins)):
                edge_cases += 1
                check_one(problem)
    except NonConformance as failure:
        options = {"max_examples": max_examples, "dtypes": dtypes, "sparse": sparse,
                   "layouts": layouts}  # fmt: skip
        raise reproducible(
            failure, name, spec.name, seed, options=options, pins=pins,
            examples_passed=max(examples - 1, 0), layout=layout,
        ) from None  # fmt: skip
    return Summary(
        name, spec.name, examples, tuple(sorted(varied)), dict(pins), modes, device, seed,
        edge_cases, tuple(str(d).removeprefix("torch.") for d in chosen_dtypes), precision[0],
        tuple(notes.values()), layout,
    )  # fmt: skip
