"""The properties can fail: every planted bug is rejected within the ci budget (100
examples, fixed seed), and correct reorderings pass the faithful mode."""

from __future__ import annotations

import pytest

from optverify.properties.conformance import NonConformance, assert_conforms
from tests.planted import PLANTED, REORDERED, SGDMaximizeIgnoredWithMomentum

BUDGET = 100


@pytest.mark.parametrize("bug", list(PLANTED), ids=lambda c: c.__name__)
def test_planted_bug_is_rejected(bug: type) -> None:
    with pytest.raises(NonConformance) as failure:
        assert_conforms(bug, PLANTED[bug], max_examples=BUDGET, seed=0, shrink=False)
    text = str(failure.value)
    assert "does not conform" in text and "reproduce: assert_conforms(" in text


@pytest.mark.parametrize("impl", list(REORDERED), ids=lambda c: c.__name__)
def test_reordered_implementation_is_accepted(impl: type) -> None:
    summary = assert_conforms(impl, REORDERED[impl], max_examples=BUDGET, seed=0)
    assert summary.examples >= BUDGET


def test_counterexample_is_shrunk_and_reproducible() -> None:
    """With shrinking on, the counterexample is small and the printed seed reproduces it."""
    bug = SGDMaximizeIgnoredWithMomentum
    with pytest.raises(NonConformance) as first:
        assert_conforms(bug, "SGD", max_examples=BUDGET, seed=7)
    problem = first.value.problem
    assert problem is not None and len(problem.params) <= 3 and problem.n_steps <= 2
    with pytest.raises(NonConformance) as again:
        assert_conforms(bug, "SGD", max_examples=BUDGET, seed=7)
    assert str(again.value) == str(first.value)
