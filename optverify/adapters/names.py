"""How torch's hyperparameter and state names read in optax and in Keras: one table per library.

Each :class:`Alias` says which torch optimiser a library optimiser claims to be, which of
torch's hyperparameters it expresses (``mapping``: torch name -> the library's name, a pair
for torch's tuples such as ``betas``), which torch values it is pinned to because it cannot
express anything else (``pinned``; every other torch hyperparameter is pinned to torch's
default, see :func:`pinned_for`), and under which torch key each of its state fields is kept
where the meaning matches (``state``: library field -> torch key; an unmapped field is kept
under ``"<library>.<field>"`` and never compared).

The tables are data only: no import of optax, JAX or Keras happens here.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "IMPLEMENTATION_FLAGS",
    "KERAS",
    "OPTAX",
    "Alias",
    "NoneIfZero",
    "pinned_for",
    "torch_defaults",
]

#: torch constructor arguments that choose an implementation, not the mathematics
IMPLEMENTATION_FLAGS = frozenset({"foreach", "fused", "capturable", "differentiable"})


@dataclass(frozen=True)
class NoneIfZero:
    """A library name whose "off" value is ``None`` (optax ``momentum``, Keras
    ``weight_decay``): torch's 0 becomes ``None``, which the library runs as "no term" (a
    zero coefficient would still multiply a non-finite buffer into NaN)."""

    name: str


LibraryName = str | NoneIfZero | tuple[str, str]


@dataclass(frozen=True)
class Alias:
    """One library optimiser and the torch optimiser it claims to be."""

    #: the library's name (``optax.<name>`` or ``keras.optimizers.<name>``)
    name: str
    #: the torch counterpart (``torch.optim.<torch>``)
    torch: str
    #: torch hyperparameter -> the library's keyword (a pair for torch's tuples)
    mapping: Mapping[str, LibraryName]
    #: torch hyperparameters pinned to a value other than torch's default
    pinned: Mapping[str, Any] = field(default_factory=dict)
    #: the library's state field -> torch's state key, where the meaning is the same
    state: Mapping[str, str] = field(default_factory=dict)
    #: the update of each element depends on that element alone (the shell may run the
    #: library on the flattened parameter, so one compiled function serves many shapes)
    elementwise: bool = True


def torch_defaults(torch_name: str) -> dict[str, Any]:
    """torch's constructor defaults of ``torch.optim.<torch_name>`` (hyperparameters only)."""
    cls = getattr(torch.optim, torch_name)
    return {
        name: p.default
        for name, p in inspect.signature(cls).parameters.items()
        if name != "params"
        and name not in IMPLEMENTATION_FLAGS
        and p.default is not inspect.Parameter.empty
    }


def pinned_for(alias: Alias) -> dict[str, Any]:
    """Every torch hyperparameter ``alias`` does not map, with the value it is pinned to."""
    defaults = torch_defaults(alias.torch)
    unknown = (set(alias.mapping) | set(alias.pinned)) - set(defaults)
    if unknown:
        raise KeyError(f"torch.optim.{alias.torch} has no hyperparameter {sorted(unknown)}")
    pinned = {k: v for k, v in defaults.items() if k not in alias.mapping}
    pinned.update(alias.pinned)
    return pinned


_LR = "learning_rate"
_ADAM_STATE = {"count": "step", "mu": "exp_avg", "nu": "exp_avg_sq"}

#: optax 0.2.8 (``optax/_src/alias.py``): alias -> torch counterpart and names.
OPTAX: dict[str, Alias] = {
    a.name: a
    for a in (
        Alias(
            "sgd",
            "SGD",
            {"lr": _LR, "momentum": NoneIfZero("momentum"), "nesterov": "nesterov"},
            state={"trace": "momentum_buffer"},
        ),
        Alias("adam", "Adam", {"lr": _LR, "betas": ("b1", "b2"), "eps": "eps"}, state=_ADAM_STATE),
        Alias(
            "adamw",
            "AdamW",
            {"lr": _LR, "betas": ("b1", "b2"), "eps": "eps", "weight_decay": "weight_decay"},
            state=_ADAM_STATE,
        ),
        # nu_max is the max of the bias-corrected nu (alias.py amsgrad, transform.py:374-378),
        # torch's max_exp_avg_sq the max of the raw one: not the same quantity, not mapped
        Alias(
            "amsgrad",
            "Adam",
            {"lr": _LR, "betas": ("b1", "b2"), "eps": "eps"},
            pinned={"amsgrad": True},
            state=_ADAM_STATE,
        ),
        Alias(
            "adamax",
            "Adamax",
            {"lr": _LR, "betas": ("b1", "b2"), "eps": "eps"},
            state={"count": "step", "mu": "exp_avg", "nu": "exp_inf"},
        ),
        # optax's trace follows scale_by_learning_rate (alias.py rmsprop): it holds lr times
        # torch's momentum_buffer, so it is not mapped
        Alias(
            "rmsprop",
            "RMSprop",
            {
                "lr": _LR,
                "alpha": "decay",
                "eps": "eps",
                "momentum": NoneIfZero("momentum"),
                "centered": "centered",
            },
            state={"nu": "square_avg", "mu": "grad_avg"},
        ),
        Alias(
            "adagrad",
            "Adagrad",
            {"lr": _LR, "eps": "eps", "initial_accumulator_value": "initial_accumulator_value"},
            state={"sum_of_squares": "sum"},
        ),
        Alias(
            "adadelta",
            "Adadelta",
            {"lr": _LR, "rho": "rho", "eps": "eps", "weight_decay": "weight_decay"},
            state={"e_g": "square_avg", "e_x": "acc_delta"},
        ),
        Alias(
            "radam",
            "RAdam",
            {"lr": _LR, "betas": ("b1", "b2"), "eps": "eps"},
            state=_ADAM_STATE,
        ),
        Alias(
            "nadam",
            "NAdam",
            {"lr": _LR, "betas": ("b1", "b2"), "eps": "eps"},
            state=_ADAM_STATE,
        ),
        Alias(
            "rprop",
            "Rprop",
            {
                "lr": _LR,
                "etas": ("eta_minus", "eta_plus"),
                "step_sizes": ("min_step_size", "max_step_size"),
            },
            # optax's prev_updates holds the signed step, torch's prev the gradient
            state={"step_sizes": "step_size"},
        ),
    )
}

_KERAS_ADAM = {"iteration": "step", "momentum": "exp_avg", "velocity": "exp_avg_sq"}
_KERAS_BETAS = ("beta_1", "beta_2")

#: Keras 3.15 (``keras/src/optimizers/``, run by ``keras/src/backend/torch/optimizers/``):
#: class -> torch counterpart and names. Keras's ``weight_decay`` is decoupled on every
#: optimiser (``torch_optimizer.py:38-45``): mapped to torch's name, so the engine finds it
#: where torch's is an L2 term; pinned ``decoupled_weight_decay=True`` where torch offers it.
KERAS: dict[str, Alias] = {
    a.name: a
    for a in (
        # Keras's momentum slot is -lr times torch's buffer (torch_sgd.py:26-27): not mapped
        Alias(
            "SGD",
            "SGD",
            {
                "lr": _LR,
                "momentum": "momentum",
                "nesterov": "nesterov",
                "weight_decay": NoneIfZero("weight_decay"),
            },
            state={"iteration": "step"},
        ),
        Alias(
            "Adam",
            "Adam",
            {
                "lr": _LR,
                "betas": _KERAS_BETAS,
                "eps": "epsilon",
                "amsgrad": "amsgrad",
                "weight_decay": NoneIfZero("weight_decay"),
            },
            pinned={"decoupled_weight_decay": True},
            state={**_KERAS_ADAM, "velocity_hat": "max_exp_avg_sq"},
        ),
        Alias(
            "AdamW",
            "AdamW",
            {
                "lr": _LR,
                "betas": _KERAS_BETAS,
                "eps": "epsilon",
                "amsgrad": "amsgrad",
                "weight_decay": "weight_decay",
            },
            state={**_KERAS_ADAM, "velocity_hat": "max_exp_avg_sq"},
        ),
        # Keras's u leaves ε out of the max (adamax.py): not torch's exp_inf, not mapped
        Alias(
            "Adamax",
            "Adamax",
            {
                "lr": _LR,
                "betas": _KERAS_BETAS,
                "eps": "epsilon",
                "weight_decay": NoneIfZero("weight_decay"),
            },
            state={"iteration": "step", "momentum": "exp_avg"},
        ),
        Alias(
            "RMSprop",
            "RMSprop",
            {
                "lr": _LR,
                "alpha": "rho",
                "eps": "epsilon",
                "momentum": "momentum",
                "centered": "centered",
                "weight_decay": NoneIfZero("weight_decay"),
            },
            state={"iteration": "step", "velocity": "square_avg", "average_gradient": "grad_avg"},
        ),
        Alias(
            "Adagrad",
            "Adagrad",
            {
                "lr": _LR,
                "eps": "epsilon",
                "initial_accumulator_value": "initial_accumulator_value",
                "weight_decay": NoneIfZero("weight_decay"),
            },
            state={"iteration": "step", "accumulator": "sum"},
        ),
        Alias(
            "Adadelta",
            "Adadelta",
            {
                "lr": _LR,
                "rho": "rho",
                "eps": "epsilon",
                "weight_decay": NoneIfZero("weight_decay"),
            },
            state={
                "iteration": "step",
                "accumulated_grad": "square_avg",
                "accumulated_delta_var": "acc_delta",
            },
        ),
        Alias(
            "Nadam",
            "NAdam",
            {
                "lr": _LR,
                "betas": _KERAS_BETAS,
                "eps": "epsilon",
                "weight_decay": NoneIfZero("weight_decay"),
            },
            pinned={"decoupled_weight_decay": True},
            # Keras's unnamed u_product (nadam.py:93) is torch's mu_product
            state={**_KERAS_ADAM, "variable": "mu_product"},
        ),
    )
}
