"""One :class:`Spec` per optimiser: our class, torch's, hyperparameters and capabilities.

Capabilities live here, never as name lists inside tests. A spec's ``hyper()`` draws one
param group's constructor keyword arguments over the *whole* valid range, edges included;
``invalid`` maps a hyperparameter to values that may lie outside it (for the property that
the constructor accepts exactly what torch accepts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from hypothesis import strategies as st
from torch.optim import Optimizer

from optverify import optimizers
from optverify.optimizers._shell import FUSED_DEVICES
from optverify.properties import strategies as s
from optverify.properties.closure import closure_problems
from optverify.properties.harness import Problem
from optverify.properties.sparse import sparse_problems

__all__ = ["MODES", "SPECS", "ProblemBuilder", "Spec", "torch_class"]

#: torch's implementations of one optimiser, as constructor keyword arguments
MODES: dict[str, dict[str, Any]] = {
    "forloop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
    # CUDA only: the step counter kept on the device (graph-capturable), for-loop arithmetic
    "capturable": {"capturable": True, "foreach": False},
}

HyperStrategy = Callable[[], st.SearchStrategy[dict[str, Any]]]
#: ``builder(hyper, **options)``: a strategy of whole problems, taking the keyword options of
#: :func:`properties.strategies.problems` (those that do not apply it accepts and ignores)
ProblemBuilder = Callable[..., st.SearchStrategy[Problem]]


@dataclass(frozen=True)
class Spec:
    """Everything the properties need to know about one optimiser."""

    name: str
    ours: type[Optimizer]
    hyper: HyperStrategy
    invalid: Mapping[str, st.SearchStrategy[Any]]
    flags: tuple[str, ...]
    modes: tuple[str, ...] = ("forloop", "foreach")
    supports_complex: bool = True
    supports_sparse: bool = False
    needs_closure: bool = False
    schedulable: tuple[str, ...] = ("lr",)
    param_shapes: s.ShapeStrategy | None = None
    #: hyperparameters torch reads from the constructor, not from each param group
    #: (torch 2.13 Adagrad's initial_accumulator_value, adagrad.py:79-98 and 172-182)
    constructor_only: tuple[str, ...] = ()
    #: False where torch's ``load_state_dict`` casts float32 scalar state (``mu_product``,
    #: ``eta``, ``mu``) to a float64 parameter's dtype, so a reloaded run differs from an
    #: uninterrupted one (torch 2.13 optimizer.py:774-803)
    reload_exact_in_float64: bool = True
    #: False where torch computes a different number from a 0-d float64 tensor lr than from
    #: the same float: Hypothesis finds 1-ulp differences in torch's own ASGD and Adafactor,
    #: whose tensor lr enters tensor arithmetic where a float lr stays a Python double
    tensor_lr_exact: bool = True
    dtypes: tuple[torch.dtype, ...] = (torch.float64, torch.float32, torch.bfloat16, torch.float16)
    #: the strategy of problems this optimiser takes, where the default dense gradient streams
    #: of :func:`properties.strategies.problems` do not apply (sparse-only, closure-driven)
    problems: ProblemBuilder | None = None
    #: torch refuses dense gradients (SparseAdam): every gradient is a sparse COO tensor
    sparse_only: bool = False
    #: torch allows one param group only (LBFGS): the param-groups invariant does not apply
    single_group: bool = False
    #: torch rejects parameters that are not matrices (Muon: 2-D only)
    only_2d: bool = False
    #: device types torch's ``fused=True`` runs on (Adagrad's fused kernel: CPU and CUDA only,
    #: torch 2.13 adagrad.py:274)
    fused_devices: tuple[str, ...] = FUSED_DEVICES
    #: hyperparameters torch 2.13's for-loop path passes as the real ``alpha`` of an ``add``
    #: on *complex* tensors (coupled weight decay ``grad.add(param, alpha=weight_decay)``,
    #: e.g. adam.py:428; Adadelta's ``param.add_(delta, alpha=-lr)``, adadelta.py:301-302; all
    #: of SGD, sgd.py:350-379, ``dampening`` as ``alpha=1 - dampening``): the domain of
    #: :func:`properties.invariants.complex_is_view_as_real` makes each a power of two
    complex_alphas: tuple[str, ...] = ()
    #: decoupled weight decay multiplies a complex parameter by the tensor ``1 - lr *
    #: weight_decay`` when lr is a tensor (adam.py:419): for a 0-d complex64 parameter and a
    #: float64 lr, type promotion computes that product in complex128 while the real view
    #: stays float32 (Hypothesis found 1-ulp differences for AdamW)
    complex_tensor_lr_promotes: bool = False
    #: hyperparameters torch's constructor derives from others when given ``None`` (LBFGS's
    #: ``max_eval = max_iter * 5 // 4``); a param group's own ``None`` reaches ``step``
    #: unresolved, where torch raises ``TypeError``
    constructor_derived: Mapping[str, Callable[[Mapping[str, Any]], Any]] = field(
        default_factory=dict
    )

    @property
    def reference(self) -> type[Optimizer]:
        return torch_class(self.name)

    def modes_on(self, device: str) -> tuple[str, ...]:
        """torch's implementations of this optimiser that run on ``device`` (a device string
        such as ``"cpu"`` or ``"cuda:0"``)."""
        device_type = device.split(":")[0]
        return tuple(m for m in self.modes if m != "fused" or device_type in self.fused_devices)

    @property
    def dense_problems(self) -> bool:
        """The default :func:`properties.strategies.problems` applies to this optimiser."""
        return self.problems is None

    def problem_strategy(
        self, hyper: HyperStrategy | None = None, **options: Any
    ) -> st.SearchStrategy[Problem]:
        """This optimiser's problems (its own builder, else the default dense streams), with
        its parameter shapes and schedulable keys unless ``options`` set them."""
        options.setdefault("param_shapes", self.param_shapes)
        options.setdefault("schedulable", self.schedulable)
        builder = self.problems if self.problems is not None else s.problems
        return builder(hyper if hyper is not None else self.hyper, **options)


def torch_class(name: str) -> type[Optimizer]:
    """``torch.optim.<name>``, or a dotted path such as ``torch.optim.Adam``."""
    obj: Any = torch.optim
    for part in name.removeprefix("torch.optim.").split("."):
        obj = getattr(obj, part)
    return obj


def _maybe_tensor_lr(lr: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    """Mostly a float; sometimes the same value as a 0-d float64 or float32 tensor."""
    as_tensor = st.tuples(lr, st.sampled_from([torch.float64, torch.float32])).map(
        lambda pair: torch.tensor(pair[0], dtype=pair[1])
    )
    return st.one_of(lr, lr, lr, as_tensor)


_WILD = st.sampled_from([-1.0, -1e-8, -0.0, 1.0, 1.5, float("nan"), float("inf")]) | st.floats(
    -2.0, 2.0
)
_WILD_PAIR = st.tuples(_WILD, _WILD)


def _sgd_hyper() -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def draw_one(draw: st.DrawFn) -> dict[str, Any]:
        momentum = draw(s.nonnegative(1.0) | st.sampled_from([0.9, 0.99]))
        nesterov = momentum > 0 and draw(st.booleans())
        return {
            "lr": draw(_maybe_tensor_lr(s.learning_rate())),
            "momentum": momentum,
            "dampening": 0.0 if nesterov else draw(s.nonnegative(1.0)),
            "weight_decay": draw(s.nonnegative(1.0)),
            "nesterov": nesterov,
            "maximize": draw(st.booleans()),
        }

    return draw_one()


def _adam_hyper(default_wd: float = 0.0, decoupled: bool | None = None) -> HyperStrategy:
    def strategy() -> st.SearchStrategy[dict[str, Any]]:
        fields: dict[str, st.SearchStrategy[Any]] = {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": s.eps(),
            "weight_decay": st.just(default_wd) | s.nonnegative(1.0),
            "amsgrad": st.booleans(),
            "maximize": st.booleans(),
        }
        if decoupled is None:
            fields["decoupled_weight_decay"] = st.booleans()
        return st.fixed_dictionaries(fields)

    return strategy


def _adagrad_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "lr_decay": s.nonnegative(1.0),
            "weight_decay": s.nonnegative(1.0),
            "initial_accumulator_value": s.nonnegative(1.0),
            "eps": s.eps(),
            "maximize": st.booleans(),
        }
    )


def _adadelta_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate(2.0)),
            "rho": s.beta() | st.just(1.0),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "maximize": st.booleans(),
        }
    )


def _rmsprop_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "alpha": s.beta(),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "momentum": s.nonnegative(1.0) | st.just(0.9),
            "centered": st.booleans(),
            "maximize": st.booleans(),
        }
    )


def _adamax_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "maximize": st.booleans(),
        }
    )


_SPECS = [
    Spec(
        "SGD",
        optimizers.SGD,
        _sgd_hyper,
        invalid={
            "lr": _WILD,
            "momentum": _WILD,
            "dampening": _WILD,
            "weight_decay": _WILD,
            "nesterov": st.booleans(),
        },
        flags=("momentum", "dampening", "nesterov", "weight_decay", "maximize", "tensor lr"),
        modes=("forloop", "foreach", "fused"),
        supports_sparse=True,
        schedulable=("lr", "momentum", "weight_decay"),
        complex_alphas=("lr", "weight_decay", "momentum", "dampening"),
    ),
    Spec(
        "Adam",
        optimizers.Adam,
        _adam_hyper(),
        invalid={"lr": _WILD, "betas": _WILD_PAIR, "eps": _WILD, "weight_decay": _WILD},
        flags=("amsgrad", "weight_decay", "decoupled_weight_decay", "maximize", "tensor lr"),
        modes=("forloop", "foreach", "fused"),
        schedulable=("lr", "betas", "weight_decay"),
        complex_alphas=("weight_decay",),
        complex_tensor_lr_promotes=True,
    ),
    Spec(
        "AdamW",
        optimizers.AdamW,
        _adam_hyper(1e-2, decoupled=True),
        invalid={"lr": _WILD, "betas": _WILD_PAIR, "eps": _WILD, "weight_decay": _WILD},
        flags=("amsgrad", "weight_decay", "maximize", "tensor lr"),
        modes=("forloop", "foreach", "fused"),
        schedulable=("lr", "weight_decay"),
        complex_tensor_lr_promotes=True,
    ),
]


def _nadam_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "momentum_decay": s.nonnegative(1.0) | st.just(4e-3),
            "decoupled_weight_decay": st.booleans(),
            "maximize": st.booleans(),
        }
    )


def _radam_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "decoupled_weight_decay": st.booleans(),
            "maximize": st.booleans(),
        }
    )


def _asgd_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "lambd": s.nonnegative(1.0) | st.just(1e-4),
            "alpha": st.sampled_from([0.0, 0.75, 1.0]) | st.floats(0.0, 1.0),
            "t0": st.sampled_from([0.0, 1.0, 2.0, 3.0, 1e6]),
            "weight_decay": s.nonnegative(1.0),
            "maximize": st.booleans(),
        }
    )


def _rprop_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "etas": st.tuples(
                st.sampled_from([0.5]) | st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
                st.sampled_from([1.2]) | st.floats(1.0, 10.0, exclude_min=True),
            ),
            "step_sizes": st.tuples(
                st.sampled_from([1e-6, 0.0]), st.sampled_from([50.0, 1.0, 1e-3])
            ),
            "maximize": st.booleans(),
        }
    )


def _adafactor_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "beta2_decay": st.sampled_from([-0.8, 0.0, -1.0]) | st.floats(-1.0, 0.0),
            "eps": st.tuples(st.none() | s.eps(1e-3), s.eps(1.0)),
            "d": st.sampled_from([1.0, 2.0]) | st.floats(1.0, 10.0),
            "weight_decay": s.nonnegative(1.0),
            "maximize": st.booleans(),
        }
    )


def _muon_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate()),
            "weight_decay": s.nonnegative(1.0) | st.just(0.1),
            "momentum": s.beta() | st.just(0.95),
            "nesterov": st.booleans(),
            "eps": s.eps(1e-3, min_value=1e-10) | st.just(1e-7),
            "ns_steps": st.integers(0, 6),
            "adjust_lr_fn": st.sampled_from([None, "original", "match_rms_adamw"]),
        }
    )


_ADAM_INVALID = {"lr": _WILD, "betas": _WILD_PAIR, "eps": _WILD, "weight_decay": _WILD}

_SPECS += [
    Spec(
        "Adagrad",
        optimizers.Adagrad,
        _adagrad_hyper,
        invalid={
            "lr": _WILD,
            "lr_decay": _WILD,
            "weight_decay": _WILD,
            "initial_accumulator_value": _WILD,
            "eps": _WILD,
        },
        flags=("lr_decay", "weight_decay", "initial_accumulator_value", "maximize", "tensor lr"),
        modes=("forloop", "foreach", "fused"),
        supports_sparse=True,
        schedulable=("lr", "lr_decay", "weight_decay"),
        constructor_only=("initial_accumulator_value",),
        fused_devices=("cpu", "cuda"),
        complex_alphas=("weight_decay",),
    ),
    Spec(
        "Adadelta",
        optimizers.Adadelta,
        _adadelta_hyper,
        invalid={"lr": _WILD, "rho": _WILD, "eps": _WILD, "weight_decay": _WILD},
        flags=("lr", "rho", "weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "rho", "weight_decay"),
        complex_alphas=("lr", "weight_decay"),
    ),
    Spec(
        "RMSprop",
        optimizers.RMSprop,
        _rmsprop_hyper,
        invalid={
            "lr": _WILD,
            "alpha": _WILD,
            "eps": _WILD,
            "weight_decay": _WILD,
            "momentum": _WILD,
        },
        flags=("alpha", "momentum", "centered", "weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "alpha", "weight_decay"),
        complex_alphas=("weight_decay",),
    ),
    Spec(
        "Adamax",
        optimizers.Adamax,
        _adamax_hyper,
        invalid=_ADAM_INVALID,
        flags=("weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "betas", "weight_decay"),
        complex_alphas=("weight_decay",),
    ),
    Spec(
        "NAdam",
        optimizers.NAdam,
        _nadam_hyper,
        invalid={**_ADAM_INVALID, "momentum_decay": _WILD},
        flags=("momentum_decay", "weight_decay", "decoupled_weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "betas", "weight_decay"),
        reload_exact_in_float64=False,
    ),
    Spec(
        "RAdam",
        optimizers.RAdam,
        _radam_hyper,
        invalid=_ADAM_INVALID,
        flags=("weight_decay", "decoupled_weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "betas", "weight_decay"),
    ),
    Spec(
        "ASGD",
        optimizers.ASGD,
        _asgd_hyper,
        invalid={"lr": _WILD, "weight_decay": _WILD},
        flags=("lambd", "alpha", "t0", "weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "lambd", "alpha", "weight_decay"),
        reload_exact_in_float64=False,
        tensor_lr_exact=False,
    ),
    Spec(
        "Rprop",
        optimizers.Rprop,
        _rprop_hyper,
        invalid={"lr": _WILD, "etas": _WILD_PAIR},
        flags=("etas", "step_sizes", "maximize", "tensor lr"),
        schedulable=("lr", "etas", "step_sizes"),
    ),
    Spec(
        "Adafactor",
        optimizers.Adafactor,
        _adafactor_hyper,
        invalid={"lr": _WILD, "beta2_decay": _WILD, "d": _WILD, "weight_decay": _WILD},
        flags=("beta2_decay", "eps", "d", "weight_decay", "maximize", "tensor lr"),
        supports_complex=False,
        schedulable=("lr", "beta2_decay", "d", "weight_decay"),
        param_shapes=s.shapes(max_dims=3, max_side=3),
        tensor_lr_exact=False,
    ),
    Spec(
        "Muon",
        optimizers.Muon,
        _muon_hyper,
        invalid={"lr": _WILD, "weight_decay": _WILD, "momentum": _WILD},
        flags=("momentum", "nesterov", "ns_steps", "adjust_lr_fn", "weight_decay", "tensor lr"),
        modes=("forloop",),
        supports_complex=False,
        schedulable=("lr", "momentum", "weight_decay"),
        param_shapes=s.shapes(min_dims=2, max_dims=2, max_side=5),
        only_2d=True,
    ),
]


def _positive(max_value: float = 1.0) -> st.SearchStrategy[float]:
    """A value in (0, max_value]: tiny, typical and the edge."""
    return st.sampled_from([1e-8, 1e-3, 0.1, max_value]) | st.floats(
        0.0, max_value, exclude_min=True
    )


def _sparse_adam_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(_positive()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": _positive(),
            "maximize": st.booleans(),
        }
    )


def _lbfgs_hyper() -> st.SearchStrategy[dict[str, Any]]:
    """Small ``max_iter`` and ``history_size`` (the memory fills and is trimmed within a few
    calls); ``max_eval`` from below ``max_iter`` to generous, or left out (the constructor's
    ``max_iter * 5 // 4``: an explicit ``None`` in a param group reaches ``step`` as ``None``,
    where torch and ours both raise ``TypeError``, and the example would test nothing);
    tolerances from 0 to coarse."""
    return st.fixed_dictionaries(
        {
            "lr": _maybe_tensor_lr(s.learning_rate(1.0)),
            "max_iter": st.integers(1, 8),
            "tolerance_grad": st.sampled_from([1e-7, 0.0, 1e-3, 1e-1]),
            "tolerance_change": st.sampled_from([1e-9, 0.0, 1e-5, 1e-2]),
            "history_size": st.integers(1, 4),
            "line_search_fn": st.sampled_from([None, "strong_wolfe"]),
        },
        optional={"max_eval": st.integers(1, 12)},
    )


def _lbfgs_max_eval(hyper: Mapping[str, Any]) -> int:
    """torch's LBFGS constructor: ``max_eval = max_iter * 5 // 4`` when ``None``
    (lbfgs.py:255-256; ``max_iter`` defaults to 20)."""
    return int(hyper.get("max_iter", 20)) * 5 // 4


_SPECS += [
    Spec(
        "SparseAdam",
        optimizers.SparseAdam,
        _sparse_adam_hyper,
        invalid={"lr": _WILD, "betas": _WILD_PAIR, "eps": _WILD},
        flags=("betas", "eps", "maximize", "tensor lr"),
        modes=("forloop",),
        supports_complex=False,
        supports_sparse=True,
        schedulable=("lr", "betas", "eps"),
        problems=sparse_problems,
        sparse_only=True,
    ),
    Spec(
        "LBFGS",
        optimizers.LBFGS,
        _lbfgs_hyper,
        invalid={"lr": _WILD},
        flags=(
            "max_iter",
            "max_eval",
            "tolerance_grad",
            "tolerance_change",
            "history_size",
            "line_search_fn",
            "tensor lr",
        ),
        modes=("forloop",),
        needs_closure=True,
        schedulable=("lr", "max_iter", "tolerance_change"),
        problems=closure_problems,
        single_group=True,
        constructor_derived={"max_eval": _lbfgs_max_eval},
    ),
]


#: name -> spec, for every optimiser of this package (SparseAdam: sparse-gradient problems,
#: LBFGS: closure problems, through ``Spec.problems``)
SPECS: dict[str, Spec] = {spec.name: spec for spec in _SPECS}
