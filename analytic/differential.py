r"""The D claims: the notes' update rules against the ``torch.optim`` class they name.

Every check runs the lock-step harness (:func:`properties.harness.run_lockstep`) on a
deterministic, seeded sweep of generated problems and reports

* **agree / differ**, judged by :func:`properties.tolerances.faithful` (an algebraically
  equivalent reordering passes, a misplaced :math:`\epsilon` fails), in float64, the oracle
  dtype, and for information also in float32 (the notes' own dtype);
* **where**: the sweep has four axes — the gradient magnitude :math:`|g|` over
  :data:`MAGNITUDES` (:math:`10^{-12} \dots 10^{3}`), the hyperparameters *as the notes call
  them*, shared hyperparameters varied one at a time over their valid range, and the
  learning rate changed between steps (as a scheduler does);
* **by how much**: the largest relative difference of the *update*
  :math:`\Delta\theta = \theta_{\text{end}} - \theta_0` (the parameters themselves hide a
  difference in a tiny update);
* **a minimal counterexample**: the smallest failing problem found (one 1-element
  parameter, a constant gradient, the fewest steps), replayable with :func:`replay`.

Decision rule (the same for every claim):

* ``fails`` — the rules differ at the notes' own hyperparameters, with a constant learning
  rate, for a gradient magnitude in :data:`NORMAL_BAND` (normal use);
* ``holds-if`` — they agree in normal use but differ somewhere else in the sweep; the
  condition excludes exactly the settings that differed (e.g. "the learning rate is not
  changed between steps");
* ``holds`` — they agree on every problem of the sweep.

For each :math:`\epsilon` difference the check also returns figure data: the relative
difference of the first update, notes' rule against torch's, as a function of :math:`|g|`
(``Evidence(kind="figure")``, payload documented in :func:`_figure`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optverify.analytic.verdict import Context, Evidence, Verdict
from optverify.optimizers import notes
from optverify.properties.harness import (
    Divergence,
    OptimizerFactory,
    Problem,
    run_lockstep,
    run_problem,
)
from optverify.properties.tolerances import faithful

__all__ = [
    "CHECKS",
    "MAGNITUDES",
    "NORMAL_BAND",
    "SUBJECTS",
    "Subject",
    "first_update_reldiff",
    "replay",
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


def _tol(dtype: torch.dtype) -> Any:
    return faithful(dtype)


# --------------------------------------------------------------------------------------------
# Subjects


Override = Mapping[str, Any]


@dataclass(frozen=True)
class Subject:
    """One D claim: what is compared with what, at which hyperparameters, over which sweep.

    ``target`` and ``reference`` build optimisers from torch-style param groups; ``base`` are
    the hyperparameters as the notes call them (shared by both constructors); ``sweep`` lists
    one-at-a-time overrides over the valid range; ``lr_change`` says whether the learning-rate
    axis applies (the rule has a learning rate); ``eps`` describes an :math:`\\epsilon`
    difference (a figure is drawn) and ``aligned`` builds torch with the notes' :math:`\\epsilon`
    value, to tell a difference of value from one of placement.
    """

    claim: str
    note: str
    lines: str
    target_name: str
    reference_name: str
    target: OptimizerFactory
    reference: OptimizerFactory
    base: Mapping[str, Any]
    sweep: tuple[Override, ...] = ()
    lr_change: bool = True
    eps: str = ""
    aligned: OptimizerFactory | None = None
    aligned_name: str = ""
    kind: str = "stream"  # stream | l2 | groups
    remarks: tuple[str, ...] = ()
    notes_class: type[Optimizer] | None = None
    torch_kwargs: Mapping[str, Any] = field(default_factory=dict)


def _torch(cls: type[Optimizer], **fixed: Any) -> OptimizerFactory:
    def factory(groups: list[dict[str, Any]]) -> Optimizer:
        return cls(groups, **fixed)

    return factory


def _ours(cls: Callable[[list[dict[str, Any]]], Optimizer]) -> OptimizerFactory:
    def factory(groups: list[dict[str, Any]]) -> Optimizer:
        return cls(groups)

    return factory


class _SGDOnL2Loss(torch.optim.SGD):
    r"""``torch.optim.SGD`` without weight decay, on the L2-regularised objective.

    Each group's ``l2`` is :math:`\lambda`; the penalty's gradient is added by autograd after
    the closure has back-propagated :math:`f`. Minimising, the objective is
    :math:`f + \frac{\lambda}{2}\|w\|^2`; with ``maximize=True`` the optimiser ascends, and
    the L2-regularised objective to *maximise* is :math:`f - \frac{\lambda}{2}\|w\|^2`
    (L2 regularisation of the minimised :math:`-f`).
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        assert closure is not None, "the L2 reference needs a closure"

        def with_penalty() -> Any:
            loss = closure()
            with torch.enable_grad():
                terms = [
                    (-1.0 if group.get("maximize") else 1.0) * group["l2"] / 2 * p.pow(2).sum()
                    for group in self.param_groups
                    for p in group["params"]
                ]
                torch.stack(terms).sum().backward()
            return loss

        return super().step(with_penalty)


def _sgd_l2_reference(groups: list[dict[str, Any]]) -> Optimizer:
    moved = [{**g, "l2": g.get("weight_decay", 0.0), "weight_decay": 0.0} for g in groups]
    return _SGDOnL2Loss(moved)


class _SeparateSGDs(Optimizer):
    """One ``torch.optim.SGD`` per param group, stepped one after the other."""

    def __init__(self, groups: list[dict[str, Any]]) -> None:
        super().__init__(groups, {})
        self._inner = [
            torch.optim.SGD(list(g["params"]), **{k: v for k, v in g.items() if k != "params"})
            for g in self.param_groups
        ]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        for outer, inner in zip(self.param_groups, self._inner, strict=True):
            inner.param_groups[0].update({k: v for k, v in outer.items() if k != "params"})
            inner.step()
        return None


def _finetune_target(groups: list[dict[str, Any]]) -> Optimizer:
    """The notes' construction: a ``filter`` of the feature parameters with the default lr,
    and the ``fc`` group with its own ``lr`` (``004`` lines 1440-1446)."""
    features, fc = groups
    feature_ids = {id(p) for p in features["params"]}
    feature_params = filter(lambda p: id(p) in feature_ids, features["params"])
    extra = {k: v for k, v in features.items() if k not in ("params", "lr", "weight_decay")}
    return torch.optim.SGD(
        [{"params": feature_params}, {"params": fc["params"], "lr": fc["lr"]}],
        lr=features["lr"],
        weight_decay=features["weight_decay"],
        **extra,
    )


def _eps_subject(
    claim: str,
    note: str,
    lines: str,
    notes_cls: type[Optimizer],
    torch_cls: type[Optimizer],
    base: Mapping[str, Any],
    sweep: tuple[Override, ...],
    eps: str,
    notes_eps: float,
    torch_call: str,
    torch_kwargs: Mapping[str, Any] | None = None,
    lr_change: bool = True,
) -> Subject:
    return Subject(
        claim=claim,
        note=note,
        lines=lines,
        target_name=f"optverify.optimizers.notes.{notes_cls.__name__}",
        reference_name=torch_call,
        target=_ours(notes_cls),
        reference=_torch(torch_cls, **(torch_kwargs or {})),
        base=base,
        sweep=sweep,
        lr_change=lr_change,
        eps=eps,
        aligned=_torch(torch_cls, **{**(torch_kwargs or {}), "eps": notes_eps}),
        aligned_name=f"{torch_call} with eps={notes_eps:g}",
        notes_class=notes_cls,
        torch_kwargs=dict(torch_kwargs or {}),
    )


N000 = "000_4553c4c6d47e08e5.txt"
N001 = "001_5d5832c955028860.txt"
N003 = "003_0f0b2f05897dc972.txt"
N004 = "004_2b399d6be3e5d837.txt"

_LR_SWEEP: tuple[Override, ...] = ({"lr": 0.0}, {"lr": 1e-4}, {"lr": 0.1}, {"lr": 1.0})

SUBJECTS: dict[str, Subject] = {
    s.claim: s
    for s in (
        Subject(
            claim="N000.sgd.rule",
            note=N000,
            lines="28-40",
            target_name="optverify.optimizers.notes.Note000SGD",
            reference_name="torch.optim.SGD(params, lr=1e-2)",
            target=_ours(notes.Note000SGD),
            reference=_torch(torch.optim.SGD),
            base={"lr": 1e-2},
            sweep=_LR_SWEEP,
            notes_class=notes.Note000SGD,
        ),
        Subject(
            claim="N000.mom.rule",
            note=N000,
            lines="230-266, 328-337",
            target_name="optverify.optimizers.notes.Note000Momentum",
            reference_name="torch.optim.SGD(lr=1e-2, momentum=0.9)",
            target=_ours(notes.Note000Momentum),
            reference=_torch(torch.optim.SGD),
            base={"lr": 1e-2, "momentum": 0.9},
            sweep=(
                *_LR_SWEEP,
                {"momentum": 0.0},
                {"momentum": 0.5},
                {"momentum": 0.99},
            ),
            notes_class=notes.Note000Momentum,
        ),
        _eps_subject(
            "N000.adagrad.rule",
            N000,
            "380-398, 470-478",
            notes.Note000Adagrad,
            torch.optim.Adagrad,
            {"lr": 1e-2},
            _LR_SWEEP,
            "the notes add ε = 1e-10 inside the root, √(s + ε); torch adds its ε = 1e-10 "
            "outside, √s + ε",
            1e-10,
            "torch.optim.Adagrad(lr=1e-2)",
        ),
        _eps_subject(
            "N000.rmsprop.rule",
            N000,
            "509-530, 600-606",
            notes.Note000RMSprop,
            torch.optim.RMSprop,
            {"lr": 1e-3, "alpha": 0.9},
            (*_LR_SWEEP, {"alpha": 0.0}, {"alpha": 0.5}, {"alpha": 0.999}),
            "the notes add ε = 1e-10 inside the root, √(s + ε); torch adds ε = 1e-8 outside, "
            "√s + ε",
            1e-10,
            "torch.optim.RMSprop(lr=1e-3, alpha=0.9)",
        ),
        _eps_subject(
            "N001.rmsprop.rule",
            N001,
            "16-28, 65-73, 207-210",
            notes.Note001RMSprop,
            torch.optim.RMSprop,
            {"lr": 1e-3, "alpha": 0.9},
            (*_LR_SWEEP, {"alpha": 0.0}, {"alpha": 0.5}, {"alpha": 0.999}),
            "the note adds ε = 1e-10 inside the root, √(s + ε); torch adds ε = 1e-8 outside, "
            "√s + ε",
            1e-10,
            "torch.optim.RMSprop(lr=1e-3, alpha=0.9)",
        ),
        _eps_subject(
            "N000.adam.rule",
            N000,
            "641-677, 757-765",
            notes.Note000Adam,
            torch.optim.Adam,
            {"lr": 1e-3, "betas": (0.9, 0.999)},
            (*_LR_SWEEP, {"betas": (0.0, 0.999)}, {"betas": (0.9, 0.0)}, {"betas": (0.99, 0.9999)}),
            "the notes add ε = 1e-8 inside the root after the bias correction, √(ŝ + ε); "
            "torch adds ε = 1e-8 outside, √ŝ + ε",
            1e-8,
            "torch.optim.Adam(lr=1e-3)",
        ),
        Subject(
            claim="N000.adadelta.rule",
            note=N000,
            lines="794-827, 902-910",
            target_name="optverify.optimizers.notes.Note000Adadelta",
            reference_name="torch.optim.Adadelta(rho=0.9)",
            target=_ours(notes.Note000Adadelta),
            reference=_torch(torch.optim.Adadelta),
            base={"rho": 0.9},
            sweep=({"rho": 0.0}, {"rho": 0.5}, {"rho": 0.99}, {"rho": 1.0}),
            lr_change=False,
            remarks=(
                "The notes' rule has no learning rate; torch's `lr` multiplies the step and "
                "is left at its default 1.0, as the notes call it (with another `lr` torch "
                "scales every update by it).",
            ),
            notes_class=notes.Note000Adadelta,
        ),
        Subject(
            claim="N003.torch.momentum",
            note=N003,
            lines="282-296",
            target_name="torch.optim.SGD(lr, momentum=m)",
            reference_name="optverify.optimizers.notes.Note003TorchMomentum",
            target=_torch(torch.optim.SGD),
            reference=_ours(notes.Note003TorchMomentum),
            base={"lr": 1e-2, "momentum": 0.9},
            sweep=(
                *_LR_SWEEP,
                {"momentum": 0.0},
                {"momentum": 0.5},
                {"momentum": 0.63},
                {"momentum": 0.99},
            ),
            notes_class=notes.Note003TorchMomentum,
        ),
        Subject(
            claim="N003.sgd.l2",
            note=N003,
            lines="384-399",
            target_name="torch.optim.SGD(lr, weight_decay=λ) on f",
            reference_name=(
                "torch.optim.SGD(lr) on f + λ/2‖w‖² (autograd; ascending f − λ/2‖w‖² when "
                "maximize=True)"
            ),
            target=_torch(torch.optim.SGD),
            reference=_sgd_l2_reference,
            base={"lr": 1e-2, "weight_decay": 1e-3},
            sweep=(
                {"weight_decay": 0.0},
                {"weight_decay": 0.1},
                {"weight_decay": 1.0},
                {"lr": 0.1},
                {"momentum": 0.9},
                {"momentum": 0.9, "dampening": 0.5},
                {"momentum": 0.9, "nesterov": True},
                {"maximize": True},
            ),
            kind="l2",
            remarks=(
                "f is a separable quadratic m·Σ(a⊙w²/2 + b⊙w) with a > 0 (a closure "
                "problem: the penalty's gradient depends on the current w).",
                "With maximize=True torch negates the gradient *before* adding λw, so it "
                "maximises f − λ/2‖w‖² (the decay still shrinks w): L2 regularisation of the "
                "objective it ascends; the reference is built the same way.",
            ),
        ),
        _eps_subject(
            "N004.adagrad.rule",
            N004,
            "915-921, 937-943",
            notes.Note004Adagrad,
            torch.optim.Adagrad,
            {"lr": 0.1},
            _LR_SWEEP,
            "the d2l code adds ε = 1e-6 inside the root, √(s + ε); torch adds ε = 1e-10 "
            "outside, √s + ε",
            1e-6,
            "torch.optim.Adagrad(lr=0.1)",
        ),
        _eps_subject(
            "N004.rmsprop.rule",
            N004,
            "1028-1034, 1051-1056",
            notes.Note004RMSprop,
            torch.optim.RMSprop,
            {"lr": 1e-2, "alpha": 0.9},
            (*_LR_SWEEP, {"alpha": 0.0}, {"alpha": 0.5}, {"alpha": 0.999}),
            "the d2l code adds ε = 1e-6 inside the root, √(s + ε); torch adds ε = 1e-8 "
            "outside, √s + ε",
            1e-6,
            "torch.optim.RMSprop(lr=0.01, alpha=0.9)",
        ),
        _eps_subject(
            "N004.adadelta.rule",
            N004,
            "1119-1127, 1141-1146",
            notes.Note004Adadelta,
            torch.optim.Adadelta,
            {"rho": 0.9},
            ({"rho": 0.0}, {"rho": 0.5}, {"rho": 0.99}, {"rho": 1.0}),
            "the d2l code uses ε = 1e-5 under both roots, torch ε = 1e-6 (same placement)",
            1e-5,
            "torch.optim.Adadelta(rho=0.9)",
            lr_change=False,
        ),
        _eps_subject(
            "N004.adam.rule",
            N004,
            "1234-1245, 1260-1265",
            notes.Note004Adam,
            torch.optim.Adam,
            {"lr": 1e-2, "betas": (0.9, 0.999)},
            (*_LR_SWEEP, {"betas": (0.0, 0.999)}, {"betas": (0.9, 0.0)}, {"betas": (0.99, 0.9999)}),
            "the d2l code uses ε = 1e-6 outside the root (as torch places it), torch ε = 1e-8",
            1e-6,
            "torch.optim.Adam(lr=0.01)",
        ),
        Subject(
            claim="N004.finetune.groups",
            note=N004,
            lines="1437-1446",
            target_name="torch.optim.SGD([{features}, {fc, lr: 10·lr}], lr, weight_decay)",
            reference_name="two separate torch.optim.SGD (lr and 10·lr, same weight_decay)",
            target=_finetune_target,
            reference=lambda groups: _SeparateSGDs(groups),
            base={"lr": 1e-2, "weight_decay": 1e-3},
            sweep=(
                {"lr": 0.1},
                {"weight_decay": 0.0},
                {"weight_decay": 0.1},
                {"momentum": 0.9},
            ),
            kind="groups",
        ),
    )
}


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


def _stream_problem(
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


def _problem(
    subject: Subject,
    magnitude: float,
    hyper: Mapping[str, Any],
    lr_factor: float | None,
    dtype: torch.dtype,
    seed: int,
) -> Problem:
    if subject.kind == "l2":
        return _l2_problem(magnitude, hyper, lr_factor, dtype, seed)
    groups = 2 if subject.kind == "groups" else 1
    return _stream_problem(magnitude, hyper, lr_factor, dtype, seed, groups)


def _cases(subject: Subject, seed: int) -> list[Case]:
    cases: list[Case] = []
    k = 0

    def add(
        axis: str, m: float, override: Override, lr_factor: float | None, dtype: torch.dtype
    ) -> None:
        nonlocal k
        hyper = {**subject.base, **override}
        problem = _problem(subject, m, hyper, lr_factor, dtype, seed * 1000 + k)
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


def _measure(subject: Subject, case: Case) -> Outcome:
    div = run_lockstep(subject.target, subject.reference, case.problem, _tol)
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


def _fmt(x: float) -> str:
    return f"{x:.0e}" if x != 0 else "0"


def _ranges(values: Sequence[float], grid: Sequence[float]) -> str:
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
    return ", ".join(f"[{_fmt(a)}, {_fmt(b)}]" if a != b else _fmt(a) for a, b in runs) or "none"


def _figure(subject: Subject, ys: Sequence[float]) -> Evidence:
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
            f"hyperparameters as the notes call them ({_hyper_text(subject.base)}). "
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


def _hyper_text(hyper: Mapping[str, Any]) -> str:
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


def _counterexample(subject: Subject, failing: Sequence[Outcome]) -> Evidence:
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
        div = run_lockstep(subject.target, subject.reference, tiny, _tol)
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
        f"{_hyper_text(case.hyper)}{lr_text}: at step {found.step + 1} {found.what}"
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
    """Re-run a counterexample from its evidence ``data`` (as :func:`_counterexample` wrote it)."""
    subject = SUBJECTS[data["claim"]]
    dtype = getattr(torch, data["dtype"])
    hyper = {k: tuple(v) if isinstance(v, list) else v for k, v in data["hyper"].items()}
    placeholder = Problem((torch.ones(1, dtype=dtype),), ((0,),), (hyper,), ((None,),))
    case = Case("replay", data["magnitude"], dtype, hyper, {}, data["lr_factor"], placeholder)
    if not data["tiny"]:
        raise ValueError("only shrunk counterexamples can be replayed")
    problem = _tiny_problem(subject, case, data["steps"])
    return run_lockstep(subject.target, subject.reference, problem, _tol)


# --------------------------------------------------------------------------------------------
# Deciding


def _condition(outcome: Outcome) -> str:
    case = outcome.case
    if case.axis == "lr change":
        return "the learning rate is not changed between steps"
    if case.axis == "hyperparameter":
        (key, value), *rest = case.override.items()
        if not rest and isinstance(value, bool):
            return f"{key}={not value}"
        return "not (" + _hyper_text(case.override) + ")"
    return f"|g| outside {case.magnitude:g}"


def _in_normal_band(m: float) -> bool:
    return NORMAL_BAND[0] <= m <= NORMAL_BAND[1]


def _decide(subject: Subject, ctx: Context) -> Verdict:
    outcomes = [_measure(subject, case) for case in _cases(subject, ctx.seed)]
    # float64 is the oracle dtype: it decides; float32 (the notes' dtype) is reported
    failing = [o for o in outcomes if o.divergence is not None and o.case.dtype == torch.float64]
    base64 = [o for o in outcomes if o.case.axis == "as called" and o.case.dtype == torch.float64]
    base32 = [o for o in outcomes if o.case.axis == "as called" and o.case.dtype == torch.float32]
    normal_fail = [
        o for o in base64 if o.divergence is not None and _in_normal_band(o.case.magnitude)
    ]
    other_fail = [o for o in failing if o.case.axis != "as called"]
    evidence: list[Evidence] = []

    # where and by how much, along |g|, at the notes' hyperparameters
    rows = []
    for o64, o32 in zip(base64, base32, strict=True):
        rows.append(
            (
                f"{o64.case.magnitude:.0e}",
                "differ" if o64.divergence else "agree",
                f"{o64.update_rel:.3g}",
                "differ" if o32.divergence else "agree",
                f"{o32.update_rel:.3g}",
            )
        )
    evidence.append(
        Evidence(
            kind="table",
            title=f"{subject.target_name} vs {subject.reference_name}, as the notes call them",
            text=(
                f"{STEPS}-step runs of two parameters (shapes (3,) and (2, 2)), gradients of "
                "random sign and size in [0.5, 1.5]·|g|, seed "
                f"{ctx.seed}; verdicts under properties.tolerances.faithful; 'update rel diff' "
                "is the largest relative difference of θ_end − θ₀."
            ),
            columns=(
                "|g|",
                "float64",
                "float64 update rel diff",
                "float32",
                "float32 update rel diff",
            ),
            rows=tuple(rows),
        )
    )
    fail64 = [o.case.magnitude for o in base64 if o.divergence is not None]
    fail32 = [o.case.magnitude for o in base32 if o.divergence is not None]
    big = [o.case.magnitude for o in base64 if o.update_rel >= ONE_PERCENT]
    worst = max(base64, key=lambda o: o.update_rel)
    region = (
        f"At the notes' hyperparameters ({_hyper_text(subject.base)}) they differ beyond the "
        f"faithful tolerance for |g| in {_ranges(fail64, MAGNITUDES)} (float64) and "
        f"{_ranges(fail32, MAGNITUDES)} (float32); by more than 1 % of the update for |g| in "
        f"{_ranges(big, MAGNITUDES)}; largest relative difference of the update "
        f"{worst.update_rel:.3g} at |g| = {worst.case.magnitude:.0e}."
    )
    sweep_rows = [
        (
            o.case.axis,
            o.case.describe(),
            "differ" if o.divergence else "agree",
            f"{o.update_rel:.3g}",
            "" if o.divergence is None else str(o.divergence),
        )
        for o in outcomes
        if o.case.axis != "as called"
    ]
    evidence.append(
        Evidence(
            kind="table",
            title="the sweep: hyperparameters over their valid range and learning-rate changes",
            columns=("axis", "problem", "verdict", "update rel diff", "first divergence"),
            rows=tuple(sweep_rows),
        )
    )
    if subject.eps:
        ys = [first_update_reldiff(subject, x) for x in FIGURE_X]
        evidence.append(_figure(subject, ys))
        first_big = [x for x, y in zip(FIGURE_X, ys, strict=True) if y >= ONE_PERCENT]
        region += (
            f" First update: relative difference ≥ 1 % for |g| between "
            f"{_fmt(min(first_big)) if first_big else '-'} and "
            f"{_fmt(max(first_big)) if first_big else '-'} (figure)."
        )
    if subject.aligned is not None:
        aligned_fail = [
            o.case.magnitude
            for o in base64
            if run_lockstep(subject.target, subject.aligned, o.case.problem, _tol) is not None
        ]
        evidence.append(
            Evidence(
                kind="text",
                title="with the notes' ε value given to torch",
                text=(
                    f"Against {subject.aligned_name} the notes' rule "
                    + (
                        "agrees at every |g| of the sweep: the difference is the ε value alone."
                        if not aligned_fail
                        else f"still differs for |g| in {_ranges(aligned_fail, MAGNITUDES)}: "
                        "the difference is where ε sits, not only its value."
                    )
                ),
                data={"aligned_differs_at": aligned_fail},
            )
        )
    for remark in subject.remarks:
        evidence.append(Evidence(kind="text", title="note", text=remark))
    if subject.eps:
        evidence.append(Evidence(kind="text", title="the ε difference", text=subject.eps))
    if failing:
        evidence.insert(0, _counterexample(subject, normal_fail or failing))
    evidence.insert(0, Evidence(kind="text", title="where and by how much", text=region))

    versus = f"{subject.target_name} vs {subject.reference_name}"
    if normal_fail:
        return Verdict(
            "fails",
            f"{versus}: they differ in normal use. {region}",
            evidence=tuple(evidence),
        )
    # The notes' code keeps its learning rate constant (rule 1 of analytic.verdict): a
    # difference after an lr change is outside the note's premises and reported, not a
    # condition. A difference at other hyperparameters (which the note does not fix) is.
    lr_fail = [o for o in other_fail if o.case.axis == "lr change"]
    hyper_fail = [o for o in other_fail if o.case.axis != "lr change"]
    if hyper_fail:
        conditions = sorted({_condition(o) for o in hyper_fail})
        where = "; ".join(sorted({o.case.describe() for o in hyper_fail}))
        worst_other = max(hyper_fail, key=lambda o: o.update_rel)
        return Verdict(
            "holds-if",
            f"{versus}: they agree on every problem at the notes' hyperparameters with a constant "
            f"learning rate, and differ only for: {where} (largest relative difference of the "
            f"update {worst_other.update_rel:.3g}).",
            condition=" and ".join(conditions),
            outside=f"{worst_other.case.describe()}: {worst_other.divergence}",
            evidence=tuple(evidence),
        )
    lr_text = ""
    if lr_fail:
        worst_lr = max(lr_fail, key=lambda o: o.update_rel)
        lr_text = (
            " The note's code keeps the learning rate constant; after a change of lr between "
            f"steps (outside the note) they differ: {worst_lr.case.describe()}, relative "
            f"difference of the update {worst_lr.update_rel:.3g}."
        )
        evidence.append(Evidence(kind="text", title="outside the note: lr changed between steps",
                                 text=lr_text.strip()))  # fmt: skip
    in64 = [o for o in outcomes if o.case.dtype == torch.float64 and o not in lr_fail]
    worst64 = max(in64, key=lambda o: o.update_rel)
    worst32 = max(base32, key=lambda o: o.update_rel)
    float32_text = (
        f" In float32 the faithful tolerance is exceeded at |g| in {_ranges(fail32, MAGNITUDES)}"
        " only: rounding of a different operation order (float64 agrees there), largest relative "
        f"difference of the update {worst32.update_rel:.3g}."
        if fail32
        else f" float32 agrees too (largest relative difference {worst32.update_rel:.3g})."
    )
    return Verdict(
        "holds",
        f"{versus}: they agree within the faithful tolerance on all {len(in64)} float64 problems "
        f"(|g| from 1e-12 to 1e3, hyperparameters over their range"
        f"{', learning-rate changes' if subject.lr_change and not lr_fail else ''}); largest "
        f"relative difference of the update {worst64.update_rel:.3g}.{float32_text}{lr_text}",
        evidence=tuple(evidence),
    )


def _subject(claim: str, ctx: Context) -> Subject:
    """The claim's subject, with fields replaced by ``ctx.given("subject", {...})`` (tests
    hand a planted target or another reference here)."""
    return replace(SUBJECTS[claim], **ctx.given("subject", {}))


def _check_for(claim: str) -> Callable[[Context], Verdict]:
    def check(ctx: Context) -> Verdict:
        return _decide(_subject(claim, ctx), ctx)

    check.__name__ = "check_" + claim.replace(".", "_")
    check.__doc__ = f"Decide {claim} by the differential sweep (see the module docstring)."
    return check


def _check_finetune(ctx: Context) -> Verdict:
    subject = _subject("N004.finetune.groups", ctx)
    verdict = _decide(subject, ctx)
    lr, wd = subject.base["lr"], subject.base["weight_decay"]
    problem = _stream_problem(1.0, subject.base, None, torch.float64, ctx.seed, groups=2)
    run = run_problem(subject.target, problem, steps=1)
    rows = []
    own_lr = True
    for j, (indices, group_lr) in enumerate((((0, 1), lr), ((2, 3), 10 * lr))):
        for i in indices:
            p0, g = problem.params[i], problem.grads[0][i]
            assert g is not None
            expected = p0 - group_lr * (g + wd * p0)
            got = run.params[i].detach()
            err = float((got - expected).abs().max())
            own_lr = own_lr and err <= 1e-12 * float(expected.abs().max())
            rows.append((f"group {j}", f"param {i}", f"{group_lr:g}", f"{err:.3g}"))
    evidence = (
        Evidence(
            kind="table",
            title="first step by hand: θ₁ = θ₀ − lr_j (g + λθ₀), λ = 1e-3",
            columns=("group", "parameter", "lr_j", "max |θ₁ − hand|"),
            rows=tuple(rows),
        ),
        *verdict.evidence,
    )
    if not own_lr:
        return Verdict(
            "fails",
            "a group is not updated with its own learning rate: " + verdict.summary,
            evidence=evidence,
        )
    return Verdict(
        verdict.verdict,
        "each group is updated with its own lr (first step by hand), and " + verdict.summary,
        condition=verdict.condition,
        evidence=evidence,
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    claim: _check_for(claim) for claim in SUBJECTS if claim != "N004.finetune.groups"
}
CHECKS["N004.finetune.groups"] = _check_finetune
