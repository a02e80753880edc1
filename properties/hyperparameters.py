"""What each optimiser's hyperparameters may be: one param group's constructor keyword
arguments drawn over the *whole* valid range, edges included, and the values that may lie
outside it (for the property that the constructor accepts exactly what torch accepts).

Read by the table of :mod:`optverify.properties.specs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from hypothesis import strategies as st

from optverify.properties import strategies as s
from optverify.properties.capabilities import HyperStrategy

__all__ = [
    "ADAM_INVALID",
    "WILD",
    "WILD_PAIR",
    "adadelta_hyper",
    "adafactor_hyper",
    "adagrad_hyper",
    "adam_hyper",
    "adamax_hyper",
    "asgd_hyper",
    "lbfgs_hyper",
    "lbfgs_max_eval",
    "maybe_tensor_lr",
    "muon_hyper",
    "nadam_hyper",
    "positive",
    "radam_hyper",
    "rmsprop_hyper",
    "rprop_hyper",
    "sgd_hyper",
    "sparse_adam_hyper",
]


def maybe_tensor_lr(lr: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    """Mostly a float; sometimes the same value as a 0-d float64 or float32 tensor."""
    as_tensor = st.tuples(lr, st.sampled_from([torch.float64, torch.float32])).map(
        lambda pair: torch.tensor(pair[0], dtype=pair[1])
    )
    return st.one_of(lr, lr, lr, as_tensor)


WILD = st.sampled_from([-1.0, -1e-8, -0.0, 1.0, 1.5, float("nan"), float("inf")]) | st.floats(
    -2.0, 2.0
)
WILD_PAIR = st.tuples(WILD, WILD)


def sgd_hyper() -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def draw_one(draw: st.DrawFn) -> dict[str, Any]:
        momentum = draw(s.nonnegative(1.0) | st.sampled_from([0.9, 0.99]))
        nesterov = momentum > 0 and draw(st.booleans())
        return {
            "lr": draw(maybe_tensor_lr(s.learning_rate())),
            "momentum": momentum,
            "dampening": 0.0 if nesterov else draw(s.nonnegative(1.0)),
            "weight_decay": draw(s.nonnegative(1.0)),
            "nesterov": nesterov,
            "maximize": draw(st.booleans()),
        }

    return draw_one()


def adam_hyper(default_wd: float = 0.0, decoupled: bool | None = None) -> HyperStrategy:
    def strategy() -> st.SearchStrategy[dict[str, Any]]:
        fields: dict[str, st.SearchStrategy[Any]] = {
            "lr": maybe_tensor_lr(s.learning_rate()),
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


def adagrad_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
            "lr_decay": s.nonnegative(1.0),
            "weight_decay": s.nonnegative(1.0),
            "initial_accumulator_value": s.nonnegative(1.0),
            "eps": s.eps(),
            "maximize": st.booleans(),
        }
    )


def adadelta_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate(2.0)),
            "rho": s.beta() | st.just(1.0),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "maximize": st.booleans(),
        }
    )


def rmsprop_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
            "alpha": s.beta(),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "momentum": s.nonnegative(1.0) | st.just(0.9),
            "centered": st.booleans(),
            "maximize": st.booleans(),
        }
    )


def adamax_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "maximize": st.booleans(),
        }
    )


def nadam_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "momentum_decay": s.nonnegative(1.0) | st.just(4e-3),
            "decoupled_weight_decay": st.booleans(),
            "maximize": st.booleans(),
        }
    )


def radam_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": s.eps(),
            "weight_decay": s.nonnegative(1.0),
            "decoupled_weight_decay": st.booleans(),
            "maximize": st.booleans(),
        }
    )


def asgd_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
            "lambd": s.nonnegative(1.0) | st.just(1e-4),
            "alpha": st.sampled_from([0.0, 0.75, 1.0]) | st.floats(0.0, 1.0),
            "t0": st.sampled_from([0.0, 1.0, 2.0, 3.0, 1e6]),
            "weight_decay": s.nonnegative(1.0),
            "maximize": st.booleans(),
        }
    )


def rprop_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
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


def adafactor_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
            "beta2_decay": st.sampled_from([-0.8, 0.0, -1.0]) | st.floats(-1.0, 0.0),
            "eps": st.tuples(st.none() | s.eps(1e-3), s.eps(1.0)),
            "d": st.sampled_from([1.0, 2.0]) | st.floats(1.0, 10.0),
            "weight_decay": s.nonnegative(1.0),
            "maximize": st.booleans(),
        }
    )


def muon_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate()),
            "weight_decay": s.nonnegative(1.0) | st.just(0.1),
            "momentum": s.beta() | st.just(0.95),
            "nesterov": st.booleans(),
            "eps": s.eps(1e-3, min_value=1e-10) | st.just(1e-7),
            "ns_steps": st.integers(0, 6),
            "adjust_lr_fn": st.sampled_from([None, "original", "match_rms_adamw"]),
        }
    )


ADAM_INVALID = {"lr": WILD, "betas": WILD_PAIR, "eps": WILD, "weight_decay": WILD}


def positive(max_value: float = 1.0) -> st.SearchStrategy[float]:
    """A value in (0, max_value]: tiny, typical and the edge."""
    return st.sampled_from([1e-8, 1e-3, 0.1, max_value]) | st.floats(
        0.0, max_value, exclude_min=True
    )


def sparse_adam_hyper() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(positive()),
            "betas": st.tuples(s.beta(), s.beta()),
            "eps": positive(),
            "maximize": st.booleans(),
        }
    )


def lbfgs_hyper() -> st.SearchStrategy[dict[str, Any]]:
    """Small ``max_iter`` and ``history_size`` (the memory fills and is trimmed within a few
    calls); ``max_eval`` from below ``max_iter`` to generous, or left out (the constructor's
    ``max_iter * 5 // 4``: an explicit ``None`` in a param group reaches ``step`` as ``None``,
    where torch and ours both raise ``TypeError``, and the example would test nothing);
    tolerances from 0 to coarse."""
    return st.fixed_dictionaries(
        {
            "lr": maybe_tensor_lr(s.learning_rate(1.0)),
            "max_iter": st.integers(1, 8),
            "tolerance_grad": st.sampled_from([1e-7, 0.0, 1e-3, 1e-1]),
            "tolerance_change": st.sampled_from([1e-9, 0.0, 1e-5, 1e-2]),
            "history_size": st.integers(1, 4),
            "line_search_fn": st.sampled_from([None, "strong_wolfe"]),
        },
        optional={"max_eval": st.integers(1, 12)},
    )


def lbfgs_max_eval(hyper: Mapping[str, Any]) -> int:
    """torch's LBFGS constructor: ``max_eval = max_iter * 5 // 4`` when ``None``
    (lbfgs.py:255-256; ``max_iter`` defaults to 20)."""
    return int(hyper.get("max_iter", 20)) * 5 // 4
