"""The properties reject every planted bug of ``tests/planted_more.py`` (the optimisers beyond
``tests/planted.py``) within the ci budget: 100 examples, fixed seed, no shrinking."""

from __future__ import annotations

import pytest

from optverify.properties.conformance import NonConformance, assert_conforms
from tests.planted_more import PLANTED_MORE

BUDGET = 100


@pytest.mark.parametrize("bug", list(PLANTED_MORE), ids=lambda c: c.__name__)
def test_planted_bug_is_rejected(bug: type) -> None:
    with pytest.raises(NonConformance) as failure:
        assert_conforms(bug, PLANTED_MORE[bug], max_examples=BUDGET, seed=0, shrink=False)
    text = str(failure.value)
    assert "does not conform" in text and "reproduce: assert_conforms(" in text
