"""Metamorphic invariants, for torch's class and for ours alike.

Where torch 2.13 itself breaks an invariant, the test keeps to the domain where it holds
and the spec field that narrows it says why (``Spec.constructor_only``,
``Spec.reload_exact_in_float64``, ``Spec.tensor_lr_exact``); ``test_regressions.py`` keeps a
concrete case of each such torch behaviour.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch
from hypothesis import given

from optverify.properties import invariants
from optverify.properties.harness import Problem
from optverify.properties.strategies import problems, shapes
from optverify.properties.targets import accepted_hyperparameters
from tests._support import DENSE_NAMES, spec

IMPLS = ["ours", "torch"]


def _cls(name: str, impl: str) -> type:
    return spec(name).ours if impl == "ours" else spec(name).reference


def _strategy(name: str, **options: Any) -> Any:
    s = spec(name)
    options.setdefault("param_shapes", s.param_shapes)
    return problems(s.hyper, schedulable=s.schedulable, long_steps=None, **options)


def _domain(name: str, invariant: str) -> dict[str, Any]:
    """Strategy options that keep an invariant where torch obeys it."""
    if invariant in ("state_dict", "interchange") and not spec(name).reload_exact_in_float64:
        return {"dtypes": (torch.float32,)}
    return {}


def _constructor_only_shared(name: str, problem: Problem) -> Problem:
    """Every group gets the first group's value of keys torch reads only from the
    constructor (per-group values of those keys are ignored by torch); where a tensor lr
    gives torch another number than the float (``Spec.tensor_lr_exact``), lr is a float."""
    s = spec(name)
    first = problem.hyper[0]
    hyper = tuple(
        {**h, **{k: first[k] for k in s.constructor_only if k in first}} for h in problem.hyper
    )
    if not s.tensor_lr_exact:
        hyper = tuple({**h, "lr": float(h["lr"])} if "lr" in h else h for h in hyper)
    return replace(problem, hyper=hyper)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", DENSE_NAMES)
@pytest.mark.parametrize("invariant", ["state_dict", "param_groups", "none_grad", "deterministic"])
def test_invariant(invariant: str, name: str, impl: str) -> None:
    check = invariants.INVARIANTS[invariant]

    @given(problem=_strategy(name, **_domain(name, invariant)))
    def holds(problem: Problem) -> None:
        check(_cls(name, impl), _constructor_only_shared(name, problem))

    holds()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(
    "name", [n for n in DENSE_NAMES if "maximize" in (accepted_hyperparameters(spec(n).ours) or ())]
)
def test_maximize_is_minimize_of_negated_grad(name: str, impl: str) -> None:
    @given(problem=_strategy(name))
    def holds(problem: Problem) -> None:
        invariants.maximize_is_minimize_of_negated_grad(_cls(name, impl), problem)

    holds()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", [n for n in DENSE_NAMES if spec(n).tensor_lr_exact])
def test_tensor_lr_is_float_lr(name: str, impl: str) -> None:
    shapes_ = spec(name).param_shapes or shapes(min_dims=1)

    @given(problem=_strategy(name, param_shapes=shapes_))
    def holds(problem: Problem) -> None:
        invariants.tensor_lr_is_float_lr(_cls(name, impl), problem)

    holds()


@pytest.mark.parametrize("direction", ["ours->torch", "torch->ours"])
@pytest.mark.parametrize("name", DENSE_NAMES)
def test_state_dict_interchange(name: str, direction: str) -> None:
    s = spec(name)
    first, then = (s.ours, s.reference) if direction == "ours->torch" else (s.reference, s.ours)

    @given(problem=_strategy(name, **_domain(name, "interchange")))
    def holds(problem: Problem) -> None:
        invariants.state_dict_round_trip(first, _constructor_only_shared(name, problem), then)

    holds()


@pytest.mark.parametrize("impl", IMPLS)
def test_sgd_coupled_weight_decay_is_l2_term(impl: str) -> None:
    @given(problem=_strategy("SGD", finite_squares=True))
    def holds(problem: Problem) -> None:
        invariants.coupled_weight_decay_is_l2_term(_cls("SGD", impl), problem)

    holds()
