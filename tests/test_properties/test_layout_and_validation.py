"""Ours has torch's state layout, param-group keys and constructor contract; the problem
builders refuse options they do not know; ``Spec.modes_on`` honours the device."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optverify.properties.closure import closure_problems
from optverify.properties.harness import Problem, make_param_groups, run_problem
from optverify.properties.sparse import sparse_problems
from optverify.properties.strategies import problems
from optverify.properties.targets import factory
from tests._support import DENSE_NAMES, NAMES, spec


def _layout(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return ("tensor", value.dtype, value.device, tuple(value.shape), value.is_sparse)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_layout(v) for v in value))
    return type(value).__name__


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_same_state_layout_and_group_keys(name: str) -> None:
    s = spec(name)

    @given(problem=problems(s.hyper, param_shapes=s.param_shapes, long_steps=None))
    def same_layout(problem: Problem) -> None:
        ours = run_problem(factory(s.ours), problem)
        theirs = run_problem(factory(s.reference), problem)
        assert ours.optimizer is not None and theirs.optimizer is not None
        for i, (p, q) in enumerate(zip(ours.params, theirs.params, strict=True)):
            mine, ref = ours.optimizer.state.get(p, {}), theirs.optimizer.state.get(q, {})
            assert list(mine) == list(ref), f"param {i}: state keys {list(mine)} != {list(ref)}"
            for key in ref:
                assert _layout(mine[key]) == _layout(ref[key]), f"param {i} state[{key!r}]"
        for g_ours, g_ref in zip(
            ours.optimizer.param_groups, theirs.optimizer.param_groups, strict=True
        ):
            assert list(g_ours) == list(g_ref)

    same_layout()


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_same_signature_and_defaults(name: str) -> None:
    s = spec(name)

    def shape(cls: type) -> list[tuple[str, object, object]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]

    assert shape(s.ours) == shape(s.reference)
    p = torch.zeros(1, 2, requires_grad=True) if s.only_2d else torch.zeros(2, requires_grad=True)
    assert s.ours([p]).defaults.keys() == s.reference([p]).defaults.keys()


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_constructor_accepts_exactly_what_torch_accepts(name: str) -> None:
    s = spec(name)
    keys = sorted(s.invalid)

    @st.composite
    def maybe_invalid(draw: st.DrawFn) -> dict[str, Any]:
        hyper = draw(s.hyper())
        key = draw(st.sampled_from(keys))
        hyper[key] = draw(s.invalid[key])
        return hyper

    @given(problem=problems(lambda: maybe_invalid(), param_shapes=s.param_shapes,
                            max_steps=2, long_steps=None, reloadable=False))  # fmt: skip
    def same_verdict(problem: Problem) -> None:
        outcomes = []
        for cls in (s.ours, s.reference):
            params = [p.clone().requires_grad_() for p in problem.params]
            try:
                factory(cls)(make_param_groups(params, problem))
                outcomes.append(None)
            except Exception as error:
                outcomes.append(type(error))
        assert outcomes[0] == outcomes[1], f"ours {outcomes[0]}, torch {outcomes[1]}"

    same_verdict()


#: every keyword option of :func:`properties.strategies.problems`, with a valid value
ALL_OPTIONS: dict[str, Any] = {
    "dtypes": (torch.float64,),
    "device": "cpu",
    "min_steps": 1,
    "max_steps": 2,
    "max_params": 2,
    "param_shapes": None,
    "schedulable": ("lr",),
    "allow_none_grads": True,
    "long_steps": None,
    "reloadable": False,
    "finite_squares": True,
}


@pytest.mark.parametrize("name", ["SparseAdam", "LBFGS"])
def test_problem_builders_refuse_unknown_options(name: str) -> None:
    """A typo in an option is an error, not a silently ignored keyword."""
    s = spec(name)
    assert s.problems in (sparse_problems, closure_problems)
    with pytest.raises(TypeError, match=r"unknown option\(s\) max_stpes; known: "):
        s.problem_strategy(max_stpes=2)

    @settings(max_examples=3, deadline=None)
    @given(problem=s.problem_strategy(**ALL_OPTIONS))
    def takes_every_known_option(problem: Problem) -> None:
        assert problem.params

    takes_every_known_option()


@pytest.mark.parametrize("name", NAMES)
def test_modes_on_device(name: str) -> None:
    """Every mode runs on the CPU here; ``fused`` only on the devices torch fuses on."""
    s = spec(name)
    assert s.modes_on("cpu") == s.modes
    assert s.modes_on("cuda:0") == s.modes
    assert "fused" not in s.modes_on("meta")
    fuses_on_xpu = "fused" in s.modes and name != "Adagrad"  # Adagrad: CPU and CUDA only
    assert ("fused" in s.modes_on("xpu")) == fuses_on_xpu
