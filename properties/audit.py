"""torch against itself: every implementation of every optimiser judged by the verdict model.

For an optimiser torch implements in several ways (``forloop``: ``foreach=False``;
``foreach``; ``fused``; ``capturable`` on CUDA) the audit of implementation ``m`` draws
problems from the default coverage (:func:`~optverify.properties.conformance.problem_strategy`:
every dtype, SIMD-size, empty and non-contiguous shapes, the overflow band), records every
implementation once per problem and judges ``m`` with
:func:`~optverify.properties.verdict.judge`:

* ``m`` other than the for-loop: the target is ``m``; the references are the for-loop (the
  ``"forloop"`` reference, as for any target) and torch's remaining implementations.
* ``m`` the for-loop: the target is the for-loop; the *primary* reference (passed under the
  key ``"forloop"``, which sets the scale of the computation and stands in for the oracle
  where none is needed) is the first other implementation (``foreach``), the rest are
  references as usual. The for-loop defines which inputs torch accepts, so an exception
  only another implementation raises is that implementation's finding, never the
  for-loop's; and a non-finite value of the for-loop that the float64 oracle shares is the
  maths, not a defect. The oracle is torch's for-loop on float64 copies: on float64
  parameters with exact hyperparameters it *is* the for-loop's run, so there the for-loop
  can only be found wrong by raising where the others do not; a disagreement of another
  implementation is that implementation's finding. An input that both sides refuse (each
  raising, whatever the error) is no finding of either.

An optimiser torch implements once (Muon, SparseAdam, LBFGS) has nothing to be compared
with but the oracle, which is its own for-loop in float64: it is listed as not audited. A
dtype an implementation refuses in its constructor or first step while the for-loop takes it
(fused kernels on complex parameters) is a documented restriction: it is listed with the
implementation and left out of its problems.

Each disagreement is shrunk by Hypothesis within its class and dtype (a defect never
shrinks into a rounding note or into another defect), then searched again with the examples
left, so one run lists several defects of one implementation. Each comes with a repro
script (:meth:`AuditFinding.script`) that rebuilds the minimal problem and calls
:func:`reproduce`: the same comparison code, exiting 1 while the defect is there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from torch import Tensor

from optverify.properties import strategies
from optverify.properties.audit_compat import (
    Implementations,
    implementation_kwargs,
    lacking_flags,
    lacking_mode,
    lacking_optimizer,
    narrowed_hyper,
    tensor_lr_refusals,
    torch_implementations,
)
from optverify.properties.audit_findings import AuditFinding, AuditReport, AuditRun, _kwargs, _name
from optverify.properties.conformance import default_dtypes, factory, modes_for, problem_strategy
from optverify.properties.generation import reproducible_generation
from optverify.properties.harness import OptimizerFactory, Problem
from optverify.properties.specs import SPECS, Spec
from optverify.properties.trajectory import Trajectory, needs_oracle, oracle_problem, record
from optverify.properties.verdict import Finding, judge

__all__ = [
    "AuditFinding",
    "AuditReport",
    "AuditRun",
    "audit",
    "audit_problem",
    "implementation_kwargs",
    "reproduce",
    "torch_implementations",
]


def _oracle(
    spec: Spec, problem: Problem, itself: Trajectory | None = None
) -> Callable[[], Trajectory | None]:
    """The float64 oracle's run, recorded when called. Where the problem needs none (float64
    parameters, exact hyperparameters) the oracle is torch's for-loop run itself: ``itself``
    when given (the for-loop's own audit), else ``None`` (the verdict model then reads the
    ``"forloop"`` reference, which is that run)."""

    def run() -> Trajectory | None:
        if problem.objective is not None or not needs_oracle(problem):
            return itself
        make = factory(spec.reference, **implementation_kwargs(spec, "forloop"))
        return record(make, oracle_problem(problem))

    return run


def _primary(mode: str, modes: Sequence[str]) -> str | None:
    """The implementation ``mode`` is measured against first (``None``: there is none)."""
    others = [m for m in modes if m != mode]
    if not others:
        return None
    return "forloop" if "forloop" in others else others[0]


def _kinds(t: Tensor) -> Tensor:
    x = t.detach().cpu()
    if x.is_complex():
        x = torch.view_as_real(x)
    x = x.to(torch.float64)
    return torch.where(
        x.isnan(), 1, torch.where(x == math.inf, 2, torch.where(x == -math.inf, 3, 0))
    )


def _oracle_shares_nonfinite(found: Finding) -> bool:
    """The target's non-finite values are the oracle's too (the maths overflows there)."""
    t, o = found.target_value, found.oracle_value
    if not (isinstance(t, Tensor) and isinstance(o, Tensor)) or t.shape != o.shape:
        return False
    if o is found.reference_value:  # no oracle: the primary reference stood in for it
        return False
    tk, ok = _kinds(t), _kinds(o)
    bad = tk != 0
    return bool(bad.any()) and bool((tk[bad] == ok[bad]).all())


def _both_raised(found: Finding) -> bool:
    return (
        found.what in ("constructor", "exception")
        and isinstance(found.target_value, BaseException)
        and isinstance(found.reference_value, BaseException)
    )


def judge_runs(
    spec: Spec, mode: str, problem: Problem, runs: Mapping[str, Trajectory]
) -> Finding | None:
    """The first failing finding of implementation ``mode`` against the others (see the
    module docstring for how the for-loop is judged)."""
    primary = _primary(mode, list(runs))
    if primary is None:
        return None
    references = {"forloop": runs[primary]}
    references.update({m: r for m, r in runs.items() if m not in (mode, primary)})
    itself = runs[mode] if mode == "forloop" else None
    found = judge(problem, runs[mode], references, _oracle(spec, problem, itself)).finding
    if found is not None and _both_raised(found):
        return None  # an input both refuse, in other words: not a disagreement on the maths
    if found is None or mode != "forloop":
        return found
    if found.what in ("constructor", "exception") and found.target_value is None:
        return None  # another implementation raised: its finding
    if found.kind in ("overflow", "non-finite kind") and _oracle_shares_nonfinite(found):
        return None
    return found


def audit_problem(
    spec: Spec | str,
    mode: str,
    problem: Problem,
    *,
    implementations: Implementations | None = None,
    device: str = "cpu",
) -> Finding | None:
    """Judge torch's implementation ``mode`` of ``spec`` on one problem (``None``: it agrees
    with the others within the verdict model's budget)."""
    spec = SPECS[spec] if isinstance(spec, str) else spec
    impls = implementations if implementations is not None else torch_implementations(spec, device)
    runs = {m: record(make, problem, watch_grads=(m == mode)) for m, make in impls.items()}
    return judge_runs(spec, mode, problem, runs)


def _dtype_of(problem: Problem, found: Finding) -> torch.dtype:
    i = found.param if found.param is not None and found.param < len(problem.params) else 0
    return problem.params[i].dtype if problem.params else torch.float64


def _key(problem: Problem, found: Finding) -> tuple[str, str]:
    """What makes two findings one defect: an exception's type and message (whatever the
    dtype), else the class and the dtype."""
    if found.what in ("constructor", "exception"):
        error = found.target_value if found.target_value is not None else found.reference_value
        text = str(error).strip().splitlines()
        return found.kind, f"{type(error).__name__}: {text[0] if text else ''}"
    return found.kind, _name(_dtype_of(problem, found))


def _refusal(make: OptimizerFactory, forloop: OptimizerFactory, dtype: torch.dtype,
             device: str, sparse: bool = False) -> str | None:  # fmt: skip
    """Why ``make`` refuses parameters of ``dtype`` (``sparse``: sparse gradients) that the
    for-loop takes (``None``: it takes them)."""

    def attempt(f: OptimizerFactory) -> BaseException | None:
        p = torch.ones(3, dtype=dtype, device=device, requires_grad=True)
        p.grad = torch.ones_like(p).to_sparse() if sparse else torch.ones_like(p)
        try:
            f([{"params": [p]}]).step()
        except Exception as error:
            return error
        return None

    error = attempt(make)
    if error is None or attempt(forloop) is not None:
        return None
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:200]


class _Found(Exception):
    def __init__(self, problem: Problem, finding: Finding) -> None:
        super().__init__(str(finding))
        self.problem = problem
        self.finding = finding


def _search(
    spec: Spec,
    mode: str,
    impls: Implementations,
    dtypes: Sequence[torch.dtype],
    device: str,
    seed: int,
    max_examples: int,
    known: set[tuple[str, str]],
    shrink: bool,
    dense_only: bool = False,
    shrink_seconds: float = 60.0,
    hyper: Callable[[], Any] | None = None,
) -> tuple[Problem, Finding, int] | int:
    """One Hypothesis search: the first finding of a (class, dtype) not in ``known``
    (:func:`_key`; an exception counts once, whatever the dtype), shrunk within that key,
    with the examples drawn before it; else the examples.
    ``dense_only`` leaves out the sparse gradients the implementation refuses; shrinking
    stops after ``shrink_seconds``; ``hyper`` replaces ``spec.hyper`` (an older torch's
    narrower hyperparameters)."""
    builder = strategies.problems if dense_only and spec.problems is None else None
    strategy = problem_strategy(spec, hyper or spec.hyper, dtypes, device, problem_builder=builder)
    wanted: list[tuple[str, str]] = []
    calls = [0, 0]  # examples run, examples before the first new finding
    best: list[tuple[Problem, Finding]] = []
    since: list[float] = []

    @settings(
        max_examples=max_examples, database=None, deadline=None, derandomize=False,
        suppress_health_check=list(HealthCheck), print_blob=False,
        report_multiple_bugs=False,
        phases=[Phase.generate] + ([Phase.shrink] if shrink else []),
    )  # fmt: skip
    @hypothesis_seed(seed)
    @given(problem=strategy)
    def agrees(problem: Problem) -> None:
        if since and time.perf_counter() - since[0] > shrink_seconds:
            return  # shrinking's time is up: the smallest failure so far is the answer
        calls[0] += 1
        found = audit_problem(spec, mode, problem, implementations=impls, device=device)
        if found is None:
            return
        key = _key(problem, found)
        if key in known or (wanted and key != wanted[0]):
            return
        if not wanted:
            wanted.append(key)
            calls[1] = calls[0]
            since.append(time.perf_counter())
        best[:] = [(problem, found)]
        raise _Found(problem, found)

    try:
        with reproducible_generation():
            agrees()
    except Exception:
        # _Found after shrinking; Hypothesis's own error (a flaky replay) when shrinking's
        # time ran out: either way the last failure seen is the smallest
        if not best:
            raise
    if best:
        return best[0][0], best[0][1], calls[1]
    return calls[0]


def audit(
    names: Sequence[str] | None = None,
    *,
    max_examples: int = 50,
    seed: int = 0,
    device: str = "cpu",
    implementations: Mapping[str, Implementations] | None = None,
    dtypes: Sequence[torch.dtype] | None = None,
    shrink: bool = True,
    max_findings: int = 6,
    shrink_seconds: float = 30.0,
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Audit torch's implementations of ``names`` (default: every optimiser of SPECS).

    ``max_examples`` problems per optimiser × implementation (a search resumes after each
    finding with the examples left); ``implementations`` replaces torch's for an optimiser
    (name -> implementation -> factory: the engine's own tests plant broken ones);
    ``dtypes`` narrows the default (every dtype torch's class takes); at most
    ``max_findings`` per implementation, each shrunk for at most ``shrink_seconds``.
    """
    start = time.perf_counter()
    runs: list[AuditRun] = []
    findings: list[AuditFinding] = []
    for name in names or list(SPECS):
        spec = SPECS[name]
        missing = None if implementations and name in implementations else lacking_optimizer(name)
        if missing is not None:
            runs.append(AuditRun(name, "forloop", note=f"skipped: {missing}"))
            continue
        own = (implementations or {}).get(name)
        impls = dict(own or torch_implementations(spec, device))
        for mode in modes_for(spec, device) if own is None else ():
            why = lacking_mode(spec, mode)
            if why is None and mode != "forloop":
                # refusing float32 parameters on this device: not an implementation for it
                # here (fused kernels for CUDA only, before torch 2.4 for Adam)
                why = _refusal(impls[mode], impls["forloop"], torch.float32, device)
                if why is not None:
                    why = f"refuses float32 parameters on {device} ({why})"
                    del impls[mode]
            if why is not None:
                runs.append(AuditRun(name, mode, note=f"skipped: {why}"))
        flags = lacking_flags(spec)
        lr_refused = tensor_lr_refusals(spec, impls, device) if own is None else {}
        # a tensor lr that this torch lacks, or that one implementation refuses outright
        # ("lr as a Tensor is not supported for ... foreach=True"): a restriction, left out
        float_lr = bool(lr_refused)
        hyper = narrowed_hyper(spec, float_lr) if own is None else spec.hyper
        chosen = tuple(dtypes) if dtypes is not None else default_dtypes(spec)
        for mode in impls:
            run = AuditRun(name, mode, flags_skipped=dict(flags))
            if float_lr:
                run.flags_skipped["tensor lr"] = lr_refused.get(mode) or "; ".join(
                    f"{m} refuses it ({why})" for m, why in lr_refused.items()
                )
            runs.append(run)
            _audit_run(run, spec, impls, chosen, device, findings, hyper=hyper, seed=seed,
                       max_examples=max_examples, shrink=shrink, max_findings=max_findings,
                       shrink_seconds=shrink_seconds, progress=progress)  # fmt: skip
    return AuditReport(runs, findings, seed, max_examples, device, time.perf_counter() - start)


def _audit_run(
    run: AuditRun,
    spec: Spec,
    impls: Implementations,
    chosen: Sequence[torch.dtype],
    device: str,
    findings: list[AuditFinding],
    *,
    hyper: Callable[[], Any],
    seed: int,
    max_examples: int,
    shrink: bool,
    max_findings: int,
    shrink_seconds: float,
    progress: Callable[[str], None] | None,
) -> None:
    """Audit one implementation (``run``), appending its findings to ``findings``."""
    name, mode = run.optimizer, run.implementation
    t0 = time.perf_counter()
    against = _primary(mode, list(impls))
    if against is None:
        run.note = "torch has one implementation: nothing to compare it with"
        return
    usable = []
    for d in chosen:
        why = _refusal(impls[mode], impls["forloop"], d, device) if mode != "forloop" else None
        if why is None:
            usable.append(d)
        else:
            run.unsupported[_name(d)] = why
    run.dtypes = tuple(_name(d) for d in usable)
    if not usable and run.unsupported:
        first = next(iter(run.unsupported.values()))
        run.note = f"skipped: refuses every dtype on {device} ({first})"
    dense_only = False
    if spec.supports_sparse and mode != "forloop" and usable:
        why = _refusal(impls[mode], impls["forloop"], usable[0], device, sparse=True)
        if why is not None:
            run.unsupported["sparse gradients"] = why
            dense_only = True
    known: set[tuple[str, str]] = set()
    left, attempt = max_examples, 0
    while usable and left > 0 and run.findings < max_findings:
        result = _search(spec, mode, impls, usable, device, seed + 7919 * attempt, left,
                         known, shrink, dense_only, shrink_seconds, hyper)  # fmt: skip
        attempt += 1
        if isinstance(result, int):
            run.examples += result
            break
        problem, found, used = result
        run.examples += used
        left -= used
        dtype = _name(_dtype_of(problem, found))
        known.add(_key(problem, found))
        run.findings += 1
        findings.append(AuditFinding(name, mode, against, dtype, found.kind, found,
                                     problem, seed, device))  # fmt: skip
        if progress:
            progress(f"{name} {mode} {dtype}: {found.kind}")
    run.seconds = round(time.perf_counter() - t0, 2)
    if progress:
        progress(f"{name} {mode}: {run.examples} examples, {run.findings} finding(s), "
                 f"{run.seconds:.1f} s")  # fmt: skip


def _values(t: Any) -> list[Any]:
    if not isinstance(t, Tensor):
        return [t]
    return t.detach().reshape(-1).cpu().tolist()


def reproduce(
    optimizer: str, implementation: str, kind: str, problem: Problem, *, device: str = "cpu"
) -> int:
    """Judge ``implementation`` of torch's ``optimizer`` on ``problem`` and print the values
    side by side; 1 while a finding of class ``kind`` is there, else 0 (a repro script's
    exit status)."""
    spec = SPECS[optimizer]
    impls = torch_implementations(spec, device)
    against = _primary(implementation, list(impls))
    found = audit_problem(spec, implementation, problem, implementations=impls, device=device)
    print(f"torch {torch.__version__}; {problem.describe()}")
    print(f"torch.optim.{optimizer}({_kwargs(spec, implementation)}) against "
          f"torch.optim.{optimizer}({_kwargs(spec, against or implementation)})")  # fmt: skip
    if found is None:
        print("no disagreement: the defect is gone")
        return 0
    print(found)
    t, r, o = (_values(v) for v in (found.target_value, found.reference_value, found.oracle_value))
    limit = 16
    order = list(range(len(t)))
    if len(t) > limit and len(t) == len(r):
        gaps = []
        for i, (a, b) in enumerate(zip(t, r, strict=True)):
            same = a == b or (a != a and b != b)
            gaps.append((0.0 if same else math.inf if not _finite(a, b) else abs(a - b), i))
        order = sorted(i for _, i in sorted(gaps, reverse=True)[:limit])
    pick = lambda v: [v[i] for i in order if i < len(v)]  # noqa: E731
    print(f"  elements {order if len(t) > limit else 'all'}:")
    print(f"    {implementation:<10}  {pick(t)}")
    print(f"    {against or '':<10}  {pick(r)}")
    print(f"    {'exact maths':<10}  {pick(o)}")
    return 1 if found.kind == kind else 0


def _finite(*xs: Any) -> bool:
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in xs)
