"""The table of the optimisers: one :class:`~optverify.properties.capabilities.Spec` each, our
class beside torch's, with its hyperparameters and capabilities.

A spec's ``hyper()`` draws one param group's constructor keyword arguments
(:mod:`optverify.properties.hyperparameters`); ``invalid`` maps a hyperparameter to values
that may lie outside its range. The :class:`Spec` type, :data:`MODES` and
:func:`torch_class` are importable from here too.
"""

from __future__ import annotations

from hypothesis import strategies as st

from optverify import optimizers
from optverify.properties import hyperparameters as h
from optverify.properties import strategies as s
from optverify.properties.capabilities import MODES, ProblemBuilder, Spec, torch_class
from optverify.properties.closure import closure_problems
from optverify.properties.sparse import sparse_problems

__all__ = ["MODES", "SPECS", "ProblemBuilder", "Spec", "torch_class"]


_SPECS = [
    Spec(
        "SGD",
        optimizers.SGD,
        h.sgd_hyper,
        invalid={
            "lr": h.WILD,
            "momentum": h.WILD,
            "dampening": h.WILD,
            "weight_decay": h.WILD,
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
        h.adam_hyper(),
        invalid=h.ADAM_INVALID,
        flags=("amsgrad", "weight_decay", "decoupled_weight_decay", "maximize", "tensor lr"),
        modes=("forloop", "foreach", "fused"),
        schedulable=("lr", "betas", "weight_decay"),
        complex_alphas=("weight_decay",),
        complex_tensor_lr_promotes=True,
    ),
    Spec(
        "AdamW",
        optimizers.AdamW,
        h.adam_hyper(1e-2, decoupled=True),
        invalid=h.ADAM_INVALID,
        flags=("amsgrad", "weight_decay", "maximize", "tensor lr"),
        modes=("forloop", "foreach", "fused"),
        schedulable=("lr", "weight_decay"),
        complex_tensor_lr_promotes=True,
    ),
    Spec(
        "Adagrad",
        optimizers.Adagrad,
        h.adagrad_hyper,
        invalid={
            "lr": h.WILD,
            "lr_decay": h.WILD,
            "weight_decay": h.WILD,
            "initial_accumulator_value": h.WILD,
            "eps": h.WILD,
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
        h.adadelta_hyper,
        invalid={"lr": h.WILD, "rho": h.WILD, "eps": h.WILD, "weight_decay": h.WILD},
        flags=("lr", "rho", "weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "rho", "weight_decay"),
        complex_alphas=("lr", "weight_decay"),
    ),
    Spec(
        "RMSprop",
        optimizers.RMSprop,
        h.rmsprop_hyper,
        invalid={
            "lr": h.WILD,
            "alpha": h.WILD,
            "eps": h.WILD,
            "weight_decay": h.WILD,
            "momentum": h.WILD,
        },
        flags=("alpha", "momentum", "centered", "weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "alpha", "weight_decay"),
        complex_alphas=("weight_decay",),
    ),
    Spec(
        "Adamax",
        optimizers.Adamax,
        h.adamax_hyper,
        invalid=h.ADAM_INVALID,
        flags=("weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "betas", "weight_decay"),
        complex_alphas=("weight_decay",),
    ),
    Spec(
        "NAdam",
        optimizers.NAdam,
        h.nadam_hyper,
        invalid={**h.ADAM_INVALID, "momentum_decay": h.WILD},
        flags=("momentum_decay", "weight_decay", "decoupled_weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "betas", "weight_decay"),
        reload_exact_in_float64=False,
    ),
    Spec(
        "RAdam",
        optimizers.RAdam,
        h.radam_hyper,
        invalid=h.ADAM_INVALID,
        flags=("weight_decay", "decoupled_weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "betas", "weight_decay"),
    ),
    Spec(
        "ASGD",
        optimizers.ASGD,
        h.asgd_hyper,
        invalid={"lr": h.WILD, "weight_decay": h.WILD},
        flags=("lambd", "alpha", "t0", "weight_decay", "maximize", "tensor lr"),
        schedulable=("lr", "lambd", "alpha", "weight_decay"),
        reload_exact_in_float64=False,
        tensor_lr_exact=False,
    ),
    Spec(
        "Rprop",
        optimizers.Rprop,
        h.rprop_hyper,
        invalid={"lr": h.WILD, "etas": h.WILD_PAIR},
        flags=("etas", "step_sizes", "maximize", "tensor lr"),
        schedulable=("lr", "etas", "step_sizes"),
    ),
    Spec(
        "Adafactor",
        optimizers.Adafactor,
        h.adafactor_hyper,
        invalid={"lr": h.WILD, "beta2_decay": h.WILD, "d": h.WILD, "weight_decay": h.WILD},
        flags=("beta2_decay", "eps", "d", "weight_decay", "maximize", "tensor lr"),
        supports_complex=False,
        schedulable=("lr", "beta2_decay", "d", "weight_decay"),
        param_shapes=s.shapes(max_dims=3, max_side=3),
        tensor_lr_exact=False,
    ),
    Spec(
        "Muon",
        optimizers.Muon,
        h.muon_hyper,
        invalid={"lr": h.WILD, "weight_decay": h.WILD, "momentum": h.WILD},
        flags=("momentum", "nesterov", "ns_steps", "adjust_lr_fn", "weight_decay", "tensor lr"),
        modes=("forloop",),
        supports_complex=False,
        schedulable=("lr", "momentum", "weight_decay"),
        param_shapes=s.shapes(min_dims=2, max_dims=2, max_side=5),
        only_2d=True,
    ),
    Spec(
        "SparseAdam",
        optimizers.SparseAdam,
        h.sparse_adam_hyper,
        invalid={"lr": h.WILD, "betas": h.WILD_PAIR, "eps": h.WILD},
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
        h.lbfgs_hyper,
        invalid={"lr": h.WILD},
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
        constructor_derived={"max_eval": h.lbfgs_max_eval},
    ),
]


#: name -> spec, for every optimiser of this package (SparseAdam: sparse-gradient problems,
#: LBFGS: closure problems, through ``Spec.problems``)
SPECS: dict[str, Spec] = {spec.name: spec for spec in _SPECS}
