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
"""

from __future__ import annotations

import difflib
import inspect
import math
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
from hypothesis.errors import FlakyFailure
from torch import Tensor
from torch.optim import Optimizer

from optverify.properties import tolerances
from optverify.properties.generation import reproducible_generation
from optverify.properties.harness import Divergence, OptimizerFactory, Problem, run_lockstep
from optverify.properties.layout import MODE_FLAGS, Layout, lenient, probe_layout
from optverify.properties.source import hyper_code, problem_code, tensor_code, value_code
from optverify.properties.specs import MODES, SPECS, ProblemBuilder, Spec
from optverify.properties.strategies import coverage_shapes, problems
from optverify.properties.trajectory import Trajectory, needs_oracle, oracle_problem, record
from optverify.properties.verdict import Finding, Verdict, judge

__all__ = [
    "NonConformance",
    "Summary",
    "TargetUsageError",
    "accepted_hyperparameters",
    "assert_conforms",
    "check_problem",
    "default_dtypes",
    "factory",
    "judge_problem",
    "problem_code",
    "problem_strategy",
    "resolve_spec",
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


class TargetUsageError(TypeError):
    """The target cannot be checked as given (e.g. its constructor needs an argument torch's
    does not take): a usage problem, not a verdict. ``missing`` names the arguments."""

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)


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


def resolve_spec(against: str) -> Spec:
    """The spec for ``"Adam"`` or ``"torch.optim.Adam"``; ``KeyError`` listing valid names
    (and the closest, for a near miss such as ``adam``)."""
    name = against.removeprefix("torch.optim.")
    if name not in SPECS:
        close = [n for n in SPECS if n.lower() == name.lower()] or difflib.get_close_matches(
            name, list(SPECS), n=1
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown optimiser {against!r}{hint} valid: {', '.join(sorted(SPECS))}")
    return SPECS[name]


def accepted_hyperparameters(cls: Callable[..., Any]) -> set[str] | None:
    """Keyword names ``cls``'s constructor accepts (``None``: it takes ``**kwargs``)."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {n for n in params if n != "params"}


def factory(cls: Callable[..., Optimizer], **fixed: Any) -> OptimizerFactory:
    """Build ``cls(groups, **first_group_hyper, **fixed)``: the first group gives the defaults."""

    def make(groups: list[dict[str, Any]]) -> Optimizer:
        first = {k: v for k, v in groups[0].items() if k != "params"}
        return cls(groups, **{**first, **fixed})

    return make


def modes_for(spec: Spec, device: str) -> tuple[str, ...]:
    """torch's implementations of ``spec`` on ``device`` (``capturable`` on CUDA only)."""
    modes = spec.modes_on(device)
    if device.startswith("cuda"):
        accepted = accepted_hyperparameters(spec.reference) or set()
        return modes + (("capturable",) if "capturable" in accepted else ())
    return modes


def mode_kwargs(spec: Spec, mode: str) -> dict[str, Any]:
    """Constructor arguments selecting ``mode`` (none where torch has a single path)."""
    accepted = accepted_hyperparameters(spec.reference)
    return {k: v for k, v in MODES[mode].items() if accepted is None or k in accepted}


def default_dtypes(spec: Spec) -> tuple[torch.dtype, ...]:
    """Every dtype torch's class takes: the spec's real dtypes and, where it takes complex,
    complex128 and complex64."""
    complex_ = (torch.complex128, torch.complex64) if spec.supports_complex else ()
    return tuple(spec.dtypes) + complex_


def target_domain(
    target: Any, spec: Spec
) -> tuple[tuple[torch.dtype, ...], bool, tuple[torch.dtype, ...]]:
    """The default coverage for ``target``: (dtypes, sparse, dtypes left out).

    A target class narrows it by declaring ``UNSUPPORTED_DTYPES`` (a tuple of dtypes) and
    ``SUPPORTS_SPARSE = False``, as the optax and Keras shells do; everything else gets
    :func:`default_dtypes` and sparse gradients where torch's class takes them."""
    left_out = tuple(getattr(target, "UNSUPPORTED_DTYPES", ()) or ())
    dtypes = tuple(d for d in default_dtypes(spec) if d not in left_out)
    return dtypes, bool(getattr(target, "SUPPORTS_SPARSE", True)), left_out


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


def find_nonconformance(error: BaseException) -> NonConformance | None:
    """The :class:`NonConformance` in ``error`` or in the exception groups it wraps."""
    if isinstance(error, NonConformance):
        return error
    for inner in getattr(error, "exceptions", ()) or ():
        found = find_nonconformance(inner)
        if found is not None:
            return found
    return None


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
    kind = "mismatch"
    if d.what in ("constructor", "exception"):
        from optverify.properties.verdict import nonfinite_hyperparameters

        kind = "non-finite hyperparameter" if nonfinite_hyperparameters(problem) else "validation"
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


def _check_constructs(make: OptimizerFactory, spec: Spec, name: str, device: str) -> None:
    """A constructor that needs an argument torch's does not take is a usage problem."""
    param = torch.zeros(2, 2, dtype=torch.float64, device=device, requires_grad=True)
    try:
        make([{"params": [param]}])
    except TypeError as error:
        text = str(error)
        if "required" in text and "argument" in text:
            missing = re.findall(r"'(\w+)'", text.split("argument", 1)[1]) or ["an argument"]
            raise TargetUsageError(
                f"{name}() needs {', '.join(map(repr, missing))} that torch.optim.{spec.name} "
                f"does not take: pass it with init={{{missing[0]!r}: ...}}",
                missing,
            ) from None
    except Exception:
        pass  # the property reports it with a minimal example


def problem_strategy(
    spec: Spec,
    hyper: Callable[[], st.SearchStrategy[dict[str, Any]]],
    dtypes: Sequence[torch.dtype],
    device: str = "cpu",
    *,
    exact: bool = False,
    problem_builder: ProblemBuilder | None = None,
    sparse: bool = True,
    layouts: bool = True,
) -> st.SearchStrategy[Problem]:
    """The default coverage of :func:`assert_conforms` (and ``optverify audit-torch``):
    ``spec``'s problems on ``dtypes`` with ``hyper``'s hyperparameters; for dense gradient
    streams, shapes across SIMD sizes, empty and non-contiguous parameters, mixed dtypes and
    (unless ``exact``) the overflow band of g² below float64; sparse gradients mixed in where
    torch's class takes them."""
    builder = problem_builder or spec.problems or problems
    options: dict[str, Any] = {
        "dtypes": tuple(dtypes), "device": device, "schedulable": spec.schedulable,
        "param_shapes": spec.param_shapes,
    }  # fmt: skip
    if builder is problems:
        if spec.param_shapes is None:
            options["param_shapes"] = coverage_shapes()
        options.update(layouts=layouts, mixed_dtypes=True, empty_first=True)
    if builder is problems and not exact:
        # float64's range effects (|g| beyond 1e154) are no practical concern; the overflow
        # band of the narrower dtypes is (float16 gradients above 256 are ordinary)
        options["finite_squares"] = (torch.float64,)
    strategy = builder(hyper, **options)
    if sparse and problem_builder is None and spec.supports_sparse and spec.problems is None:
        from optverify.properties.sparse import sparse_problems

        sparse_dtypes = tuple(
            d for d in dtypes
            if d in (torch.float64, torch.float32, torch.complex128, torch.complex64)
        )  # fmt: skip
        if sparse_dtypes:
            sparse_strategy: st.SearchStrategy[Problem] = sparse_problems(
                hyper, dtypes=sparse_dtypes, device=device, schedulable=spec.schedulable
            )
            # one problem in four sparse (one_of would give each distinct branch an equal
            # share: half the budget on sparse gradients)
            dense = strategy
            strategy = st.sampled_from((0, 1, 2, 3)).flatmap(
                lambda i: sparse_strategy if i == 3 else dense
            )
    return strategy


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
        _check_constructs(make_target, spec, name, device)
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
        strategy = _sometimes_invalid(strategy, spec, frozenset(pins))
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
        call = f"assert_conforms({name}, {spec.name!r}, seed={seed}"
        if max_examples is not None:
            call += f", max_examples={max_examples}"
        if dtypes is not None:
            call += f", dtypes=[{', '.join(map(str, dtypes))}]"
        for option, value in (("sparse", sparse), ("layouts", layouts)):
            if not value:
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
        error.examples_passed = max(examples - 1, 0)
        error.layout = layout
        raise error from None
    return Summary(
        name, spec.name, examples, tuple(sorted(varied)), dict(pins), modes, device, seed,
        edge_cases, tuple(str(d).removeprefix("torch.") for d in chosen_dtypes), precision[0],
        tuple(notes.values()), layout,
    )  # fmt: skip
