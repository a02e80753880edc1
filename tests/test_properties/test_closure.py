"""Closure-driven optimisers (LBFGS): each objective on its own, and the problems exercise
what matters (the memory fills and is trimmed, the line search runs, several closure calls).

The general conformance (all objectives, float64/float32, bit for bit, iterates, loss and
closure-call counts) is ``test_conformance.py``, through ``Spec.problems``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from optverify.properties.closure import OBJECTIVES, closure_problems
from optverify.properties.conformance import assert_conforms
from optverify.properties.harness import Problem, run_problem
from optverify.properties.targets import factory
from tests._support import NAMES, seed_for_profile, spec

CLOSURE_NAMES = [n for n in NAMES if spec(n).needs_closure]


@pytest.mark.parametrize("kind", OBJECTIVES)
@pytest.mark.parametrize("name", CLOSURE_NAMES)
def test_each_objective_bit_for_bit(name: str, kind: str) -> None:
    def only(hyper, **options):  # type: ignore[no-untyped-def]
        return closure_problems(hyper, kinds=(kind,), **options)

    summary = assert_conforms(
        spec(name).ours, name, tolerance="exact", max_examples=50, seed=seed_for_profile(),
        problem_builder=only,
    )  # fmt: skip
    assert summary.examples > 0


@pytest.mark.parametrize("name", CLOSURE_NAMES)
def test_problems_fill_and_trim_the_memory(name: str) -> None:
    """Some drawn problems keep ``history_size`` pairs and then take more (so trimming
    happens), and some evaluate the closure more than once per call."""
    s = spec(name)
    seen = {"trimmed": 0, "many_calls": 0}

    @settings(max_examples=50)
    @given(problem=s.problem_strategy())
    def run(problem: Problem) -> None:
        try:
            done = run_problem(factory(s.reference), problem)
        except Exception:
            return
        assert done.optimizer is not None
        state = done.optimizer.state.get(done.params[0], {})
        history = done.optimizer.param_groups[0]["history_size"]
        if state.get("n_iter", 0) > history + 1 and len(state.get("old_dirs", [])) == history:
            seen["trimmed"] += 1
        if done.closure_calls > 2 * problem.n_steps:
            seen["many_calls"] += 1

    run()
    assert seen["trimmed"] > 0 and seen["many_calls"] > 0, seen
