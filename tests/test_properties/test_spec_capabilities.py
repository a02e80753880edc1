"""The spec is the capability registry, and the problem strategies honour what it says.

``Spec.only_2d`` draws matrices only, ``Spec.single_group`` one param group, whichever
builder draws the problems (:meth:`Spec.problem_strategy` and the default coverage of
:func:`~optverify.properties.coverage.problem_strategy`); every problem builder refuses an
option it does not know, with a ``TypeError`` that names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from optverify.properties import strategies
from optverify.properties.capabilities import Spec, one_group
from optverify.properties.coverage import problem_strategy
from optverify.properties.harness import Problem
from tests._support import NAMES, spec

F64 = (torch.float64,)
T = TypeVar("T")
Draws = Callable[[Spec], st.SearchStrategy[Problem]]
#: the two ways a spec's problems are drawn: its own strategy, and the default coverage
BUILDERS = [
    pytest.param(lambda s: s.problem_strategy(dtypes=F64), id="Spec.problem_strategy"),
    pytest.param(lambda s: problem_strategy(s, s.hyper, F64), id="coverage"),
]


def _dense(name: str, **changes: object) -> Spec:
    """The spec of ``name`` with the default dense problems and no shapes of its own."""
    return replace(spec(name), problems=None, param_shapes=None, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", NAMES)
def test_every_builder_refuses_an_unknown_option(name: str) -> None:
    """A typo in an option is an error naming it, not a keyword silently ignored."""
    with pytest.raises(TypeError, match="max_stpes"):
        spec(name).problem_strategy(max_stpes=2).example()


@pytest.mark.parametrize("strategy", BUILDERS)
def test_only_2d_draws_matrices(strategy: Draws) -> None:
    s = _dense("Adam", only_2d=True)
    assert s.shapes() is not None and s.shapes(coverage=True) is not None

    @settings(max_examples=25, deadline=None, database=None)
    @given(problem=strategy(s))
    def matrices(problem: Problem) -> None:
        assert all(p.dim() == 2 for p in problem.params), problem

    matrices()


def test_without_only_2d_shapes_are_the_default() -> None:
    s = _dense("Adam")
    assert s.shapes() is None
    shapes = s.shapes(coverage=True)
    assert shapes is not None
    drawn = {len(shape) for shape in _examples(shapes, 60)}
    assert drawn != {2}


@pytest.mark.parametrize("strategy", BUILDERS)
def test_single_group_draws_one_group(strategy: Draws) -> None:
    """A dense builder draws two groups often; a single-group spec never gets them."""
    s = _dense("SGD", single_group=True)
    groups = [len(p.groups) for p in _examples(strategy(s), 40)]
    assert groups and set(groups) == {1}
    two = [len(p.groups) for p in _examples(strategy(_dense("SGD")), 40)]
    assert 2 in two


def test_one_group_keeps_the_first_groups_hyperparameters() -> None:
    t = torch.zeros(1, dtype=torch.float64)
    problem = Problem(
        params=(t, t, t), groups=((0, 2), (1,)), hyper=({"lr": 0.1}, {"lr": 0.2}),
        grads=((t, t, t),), schedule={1: ({"lr": 0.3}, {"lr": 0.4})},
    )  # fmt: skip
    merged = one_group(problem)
    assert merged.groups == ((0, 1, 2),)
    assert merged.hyper == ({"lr": 0.1},)
    assert merged.schedule == {1: ({"lr": 0.3},)}
    assert one_group(merged) is merged


def test_real_specs_state_their_refusals() -> None:
    """The two specs that state these refusals get problems torch takes from any builder."""
    assert spec("Muon").only_2d and spec("LBFGS").single_group
    assert _dense("Muon").shapes() is not None
    lbfgs = replace(spec("LBFGS"), problems=strategies.problems)
    assert {len(p.groups) for p in _examples(lbfgs.problem_strategy(dtypes=F64), 20)} == {1}


def _examples(strategy: st.SearchStrategy[T], n: int) -> list[T]:
    found: list[T] = []

    @settings(max_examples=n, deadline=None, database=None)
    @given(x=strategy)
    def collect(x: Any) -> None:
        found.append(x)

    collect()
    return found
