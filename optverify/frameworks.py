"""The cross-framework table: optax and Keras optimisers judged against their torch counterparts.

:func:`compute_rows` runs every alias of :data:`optverify.adapters.names.OPTAX` and
:data:`~optverify.adapters.names.KERAS` (the libraries that are installed) through
``assert_conforms`` against its torch counterpart with the pinned values, plus one fixed
overflow probe (g = 1e155 in float64: g² overflows, (1 − β) g² does not), and classifies what
it finds. :func:`render_markdown` and :func:`render_json` publish the rows. Each row also
carries the documented causes of :data:`KNOWN` (with the library source they were read
from), each under an ID that can be cited like a claim (``XF.optax.rmsprop.eps``).

A finding's class (until the engine's verdict model classifies findings itself):
``validation`` (one side's constructor or step raises, the other's does not), ``overflow``
(the library's value is infinite or NaN where torch's is finite), ``non-finite kind``
(torch's is non-finite where the library's is finite), ``mismatch`` (finite values apart by
more than :func:`precision_bound` relative), ``precision`` (finite, apart by less). The
overflow probe is ``overflow`` when the library's state holds inf or NaN where torch's is
finite, whatever the parameter shows first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "KNOWN",
    "Finding",
    "Known",
    "Row",
    "classify",
    "compute_row",
    "compute_rows",
    "default_targets",
    "precision_bound",
    "render_json",
    "render_markdown",
]


def precision_bound(dtype: torch.dtype) -> float:
    """Relative error up to which a finite difference counts as precision, not a mismatch:
    the square root of the dtype's epsilon (float64: 1.5e-8, float32: 3.5e-4)."""
    return math.sqrt(torch.finfo(dtype).eps)


@dataclass(frozen=True)
class Known:
    """A documented difference: what, where it shows, the library source it comes from."""

    id: str
    klass: str
    region: str
    cause: str
    source: str


_OPTAX = "optax 0.2.8"
_KERAS = "Keras 3.15.1"
_SQUARE_FIRST = "g² is formed before the (1 − β) scaling"
_KERAS_DECAY = Known(
    "XF.keras.decay",
    "mismatch",
    "weight_decay > 0 (torch: an L2 term in the gradient)",
    "weight decay is decoupled on every optimiser: p ← p(1 − lr·wd) before the update",
    f"{_KERAS} keras/src/backend/torch/optimizers/torch_optimizer.py:38-45",
)

KNOWN: dict[str, tuple[Known, ...]] = {
    "optax:rmsprop": (
        Known(
            "XF.optax.rmsprop.eps",
            "mismatch",
            "|g| of order √ε and below",
            "ε inside the root: g / √(ν + ε) (eps_in_sqrt=True by default)",
            f"{_OPTAX} optax/_src/alias.py:1940, optax/_src/transform.py:139-142",
        ),
        Known(
            "XF.optax.rmsprop.recip",
            "overflow",
            "√ν + ε below 1/max (subnormal ε, ν = 0)",
            "1 / (√ν + ε) is formed first, then multiplied by g: inf · 0 = NaN",
            f"{_OPTAX} optax/_src/transform.py:142-143",
        ),
    ),
    "optax:amsgrad": (
        Known(
            "XF.optax.amsgrad.max",
            "mismatch",
            "ν falling after a large gradient",
            "max of the bias-corrected ν (torch: of the raw ν, corrected afterwards)",
            f"{_OPTAX} optax/_src/transform.py:372-378",
        ),
    ),
    "optax:adagrad": (
        Known(
            "XF.optax.adagrad.eps",
            "mismatch",
            "|g| of order √ε and below",
            "ε inside the root: g · rsqrt(Σg² + ε), and 0 where Σg² = 0",
            f"{_OPTAX} optax/_src/transform.py:68-72",
        ),
    ),
    "optax:nadam": (
        Known(
            "XF.optax.nadam.mu",
            "mismatch",
            "every step",
            "Nesterov Adam without torch's momentum-decay schedule μ_t",
            f"{_OPTAX} optax/_src/alias.py:532, optax/_src/transform.py:286-292",
        ),
    ),
    "optax:rprop": (
        Known(
            "XF.optax.rprop.lag",
            "mismatch",
            "every step",
            "the update is the previous step's signed step (state.prev_updates): one step late",
            f"{_OPTAX} optax/_src/transform.py:949-955",
        ),
        Known(
            "XF.optax.rprop.first",
            "mismatch",
            "first step, lr outside the step-size bounds",
            "a sign product of 0 keeps the step size unclipped (torch clamps it)",
            f"{_OPTAX} optax/_src/transform.py:928-937",
        ),
    ),
    "optax:adam": (
        Known(
            "XF.optax.square",
            "overflow",
            "|g| > √max (float64: 1.3e154)",
            _SQUARE_FIRST,
            f"{_OPTAX} optax/tree_utils/_tree_math.py:418-438",
        ),
    ),
    "optax:adamw": (
        Known(
            "XF.optax.adamw.default",
            "defaults",
            "constructor defaults",
            "weight decay defaults to 1e-4 (torch: 1e-2)",
            f"{_OPTAX} optax/_src/alias.py:605",
        ),
    ),
    "keras:Adam": (
        Known(
            "XF.keras.adam.epshat",
            "mismatch",
            "ε > 0, early steps, |g| near √ε",
            "ε-hat: ε is added to √v before the bias correction is folded into the step",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_adam.py:24,55",
        ),
        Known(
            "XF.keras.square",
            "overflow",
            "|g| > √max (float64: 1.3e154)",
            _SQUARE_FIRST,
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_adam.py:39-41",
        ),
    ),
    "keras:AdamW": (
        Known(
            "XF.keras.float32.bias",
            "precision",
            "float32, β2 within 1e-7 of 1",
            "β2 is cast to the parameters' dtype before 1 − β2^t (torch: Python double)",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_adam.py:22-24",
        ),
    ),
    "keras:Adamax": (
        _KERAS_DECAY,
        Known(
            "XF.keras.adamax.eps",
            "mismatch",
            "|g| of order ε and below",
            "ε is added after the max: m / (max(β2 u, |g|) + ε) (torch: max(β2 u, |g| + ε))",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_adamax.py:39-47",
        ),
    ),
    "keras:RMSprop": (
        _KERAS_DECAY,
        Known(
            "XF.keras.rmsprop.eps",
            "mismatch",
            "|g| of order √ε and below",
            "ε inside the root: √(v + ε)",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_rmsprop.py:35,50",
        ),
        Known(
            "XF.keras.rmsprop.momentum",
            "mismatch",
            "momentum > 0 and lr changed between steps",
            "the momentum buffer accumulates lr·g/√(v + ε)",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_rmsprop.py:51-62",
        ),
    ),
    "keras:Adagrad": (
        _KERAS_DECAY,
        Known(
            "XF.keras.adagrad.eps",
            "mismatch",
            "|g| of order √ε and below",
            "ε inside the root: lr·g / √(Σg² + ε)",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_adagrad.py:27-37",
        ),
    ),
    "keras:Adadelta": (_KERAS_DECAY,),
    "keras:Nadam": (
        Known(
            "XF.keras.nadam.mu",
            "mismatch",
            "every step",
            "μ_t = β1(1 − 0.5·0.96^t): no momentum_decay factor (torch: 0.96^(t·0.004))",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_nadam.py:24,27-28",
        ),
    ),
    "keras:SGD": (
        Known(
            "XF.keras.sgd.velocity",
            "mismatch",
            "momentum > 0 and lr changed between steps",
            "the velocity holds lr: m = μm − lr·g",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_sgd.py:26-27",
        ),
        Known(
            "XF.keras.sgd.nesterov",
            "validation",
            "nesterov=True with momentum=0",
            "accepted and run as plain SGD (torch raises ValueError)",
            f"{_KERAS} keras/src/backend/torch/optimizers/torch_sgd.py:16,35-36",
        ),
        _KERAS_DECAY,
    ),
}


@dataclass
class Finding:
    """One difference found by running the pair."""

    klass: str
    region: str
    detail: str
    repro: str


@dataclass
class Row:
    """One library optimiser against its torch counterpart."""

    target: str
    counterpart: str
    verdict: str
    findings: list[Finding] = field(default_factory=list)
    pinned: dict[str, Any] = field(default_factory=dict)
    defaults: list[str] = field(default_factory=list)
    known: list[Known] = field(default_factory=list)
    examples: int = 0
    seed: int = 0


def default_targets() -> list[str]:
    """Every alias of the two tables (``optax:...`` first)."""
    from optverify.adapters.names import KERAS, OPTAX

    return [f"optax:{n}" for n in OPTAX] + [f"keras:{n}" for n in KERAS]


def _nonfinite(v: Any) -> bool:
    return isinstance(v, Tensor) and not bool(torch.isfinite(v).all())


def classify(divergence: Any, dtype: torch.dtype = torch.float64) -> str:
    """The class of a ``Divergence`` in ``dtype`` (see the module docstring)."""
    if divergence.what in ("constructor", "exception"):
        return "validation"
    target, reference = divergence.target_value, divergence.reference_value
    if _nonfinite(target) and not _nonfinite(reference):
        return "overflow"
    if _nonfinite(reference) and not _nonfinite(target):
        return "non-finite kind"
    if math.isnan(divergence.max_rel) or divergence.max_rel > precision_bound(dtype):
        return "mismatch"
    return "precision"


def _region(problem: Any, divergence: Any) -> str:
    from optverify.properties.conformance import hyper_code

    dtype = str(problem.params[0].dtype).removeprefix("torch.") if problem.params else "?"
    group = 0
    if divergence.param is not None:
        group = next((j for j, g in enumerate(problem.groups) if divergence.param in g), 0)
    hyper = hyper_code(problem.hyper[group]) if problem.hyper else "{}"
    where = "constructor" if divergence.step < 0 else f"step {divergence.step + 1}"
    return f"{dtype}, {where}, {hyper}"


def _default_differences(cls: Any) -> list[str]:
    import inspect

    from optverify.adapters.names import torch_defaults

    ours = inspect.signature(cls).parameters
    theirs = torch_defaults(cls.COUNTERPART)
    return [
        f"{name}: {ours[name].default!r} (torch {theirs[name]!r})"
        for name in cls.MAPPING
        if name in theirs and ours[name].default != theirs[name]
    ]


def _overflow_probe(cls: Any, pins: dict[str, Any]) -> Any:
    """A float64 scalar with g = 1e155 for one step: torch's defaults for every hyperparameter
    the class maps (not the library's, which may differ), and the pins."""
    from optverify.adapters.names import torch_defaults
    from optverify.properties.harness import Problem

    defaults = torch_defaults(cls.COUNTERPART)
    hyper = {k: defaults[k] for k in cls.MAPPING if k in defaults}
    hyper.update(pins)
    return Problem(
        params=(torch.tensor(1.0, dtype=torch.float64),),
        groups=((0,),),
        hyper=(hyper,),
        grads=((torch.tensor(1e155, dtype=torch.float64),),),
    )


def _state_overflows(cls: Any, reference: Any, problem: Any) -> bool:
    """The library's state holds inf or NaN after ``problem`` where torch's state is finite."""
    from optverify.properties.conformance import factory
    from optverify.properties.harness import run_problem

    ours, theirs = run_problem(factory(cls), problem), run_problem(factory(reference), problem)
    assert ours.optimizer is not None and theirs.optimizer is not None
    mine = ours.optimizer.state.get(ours.params[0], {}).values()
    torch_state = theirs.optimizer.state.get(theirs.params[0], {}).values()
    return any(_nonfinite(v) for v in mine) and not any(_nonfinite(v) for v in torch_state)


def compute_row(
    target: str,
    *,
    max_examples: int = 20,
    seed: int = 0,
    dtypes: Sequence[torch.dtype] = (),
    shrink: bool = True,
) -> Row:
    """Run ``target`` against its counterpart; the row (a missing library: verdict ``not run``).

    ``shrink=False`` reports the first counterexample found instead of the minimal one."""
    from optverify.adapters import AdapterError, load_adapter, pins_for
    from optverify.properties.conformance import (
        NonConformance,
        assert_conforms,
        factory,
        resolve_spec,
    )
    from optverify.properties.harness import run_lockstep
    from optverify.properties.tolerances import faithful

    known = list(KNOWN.get(target, ()))
    try:
        cls: Any = load_adapter(target)
    except AdapterError as error:
        return Row(target, "?", f"not run: {error}", known=known)
    against = cls.COUNTERPART
    pins = pins_for(cls, against)
    row = Row(target, against, "conforms", pinned=pins, known=known, seed=seed)
    row.defaults = _default_differences(cls)
    repro = f"optverify check {target} --against {against} --seed {seed}"
    try:
        summary = assert_conforms(
            cls, against, max_examples=max_examples, seed=seed,
            dtypes=list(dtypes) or None, shrink=shrink, **pins,
        )  # fmt: skip
        row.examples = summary.examples
    except NonConformance as failure:
        row.examples = max_examples
        d, problem = failure.divergence, failure.problem
        if d is not None and problem is not None:
            dtype = problem.params[0].dtype if problem.params else torch.float64
            row.findings.append(Finding(classify(d, dtype), _region(problem, d), str(d), repro))
    spec = resolve_spec(against)
    probe = _overflow_probe(cls, pins)
    found = run_lockstep(factory(cls), factory(spec.reference), probe, faithful)
    if found is not None:
        klass = classify(found)
        if found.what not in ("constructor", "exception"):
            klass = "overflow" if _state_overflows(cls, spec.reference, probe) else klass
        row.findings.append(
            Finding(
                klass, "float64, one step at |g| = 1e155 (g² overflows)", str(found),
                f"{target} vs torch.optim.{against}: one step, g = 1e155, float64",
            )
        )  # fmt: skip
    if row.findings:
        row.verdict = "differs"
    return row


def compute_rows(
    targets: Iterable[str] | None = None,
    *,
    max_examples: int = 20,
    seed: int = 0,
    dtypes: Sequence[torch.dtype] = (),
    shrink: bool = True,
) -> list[Row]:
    """The table's rows for ``targets`` (default: every alias of both libraries)."""
    chosen = list(targets) if targets is not None else default_targets()
    return [
        compute_row(t, max_examples=max_examples, seed=seed, dtypes=dtypes, shrink=shrink)
        for t in chosen
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: Sequence[Row]) -> str:
    """The table as Markdown: one line per finding (or per conforming pair), then the
    documented causes with their IDs and sources."""
    lines = [
        "## Cross-framework conformance",
        "",
        "| alias | torch counterpart | verdict | class of difference | region | repro |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        head = f"| `{row.target}` | `torch.optim.{row.counterpart}` | {_cell(row.verdict)} "
        if not row.findings:
            examples = f"{row.examples} examples, seed {row.seed}" if row.examples else ""
            lines.append(head + f"| – | {examples} | |")
        for f in row.findings:
            lines.append(head + f"| {f.klass} | {_cell(f.region)} | `{_cell(f.repro)}` |")
    lines += ["", "Pinned hyperparameters and defaults that differ from torch's:", ""]
    for row in rows:
        extras = []
        if row.pinned:
            extras.append("pinned " + ", ".join(f"{k}={v!r}" for k, v in row.pinned.items()))
        if row.defaults:
            extras.append("defaults " + "; ".join(row.defaults))
        if extras:
            lines.append(f"- `{row.target}`: " + " — ".join(extras))
    lines += [
        "",
        "| ID | alias | class | region | cause | source |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        for k in row.known:
            lines.append(
                f"| {k.id} | `{row.target}` | {k.klass} | {_cell(k.region)} | "
                f"{_cell(k.cause)} | {_cell(k.source)} |"
            )
    return "\n".join(lines) + "\n"


def render_json(rows: Sequence[Row]) -> dict[str, Any]:
    """The table as JSON-ready data (``{"frameworks": [row, ...]}``)."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, float) and not math.isfinite(v):
            return repr(v)
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        return repr(v)

    return {"frameworks": [plain(asdict(row)) for row in rows]}
