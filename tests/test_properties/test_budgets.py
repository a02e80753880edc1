"""The measured evidence behind :data:`optverify.properties.tolerances.BUDGETS`.

A budget is ``factor · e_torch + ulps · u · scale · (k + 1)``. Its ``ulps`` term must admit
correct implementations whose roundings differ from the for-loop's: torch's own foreach
paths are such implementations. For each dtype this module judges torch's foreach path of
several optimisers on the default coverage and measures the ``ulps`` term each precision
value needed (:func:`~optverify.properties.verdict.ulps_needed`). The test asserts that the
largest stays below the budget, and that no torch implementation gets a mismatch; the
numbers quoted in ``BUDGETS``'s evidence come from ``python -m
tests.test_properties.test_budgets`` (40 derandomized examples per optimiser and dtype).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from optverify.properties import tolerances
from optverify.properties.conformance import _oracle_thunk, judge_problem
from optverify.properties.coverage import problem_strategy
from optverify.properties.harness import Problem
from optverify.properties.targets import factory, mode_kwargs, resolve_spec
from optverify.properties.trajectory import record
from optverify.properties.verdict import ulps_needed

#: optimisers whose foreach path is judged (each has no known foreach defect in torch 2.13)
NAMES = ("SGD", "Adam", "Adagrad", "RMSprop", "NAdam")
DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)
EXAMPLES = 8


def needed_ulps(name: str, dtype: torch.dtype, examples: int = EXAMPLES) -> tuple[float, int]:
    """(largest ``ulps`` term needed, examples judged) for torch's foreach path of ``name``
    on ``dtype`` against its for-loop and the oracle; raises ``AssertionError`` if an
    example gets a failing mismatch under the budget."""
    spec = resolve_spec(name)
    foreach = factory(spec.reference, **mode_kwargs(spec, "foreach"))
    forloop = factory(spec.reference, **mode_kwargs(spec, "forloop"))
    worst = [0.0, 0]

    @settings(
        max_examples=examples, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(problem=problem_strategy(spec, spec.hyper, [dtype]))
    def judge(problem: Problem) -> None:
        verdict = judge_problem(foreach, spec, problem, modes=["forloop"])
        found = verdict.finding
        # the budget is about finite values: a constructor torch's foreach path rejects (a
        # tensor lr), its handling of p.grad and its range effects (foreach squares g before
        # scaling in some optimisers: an overflow) are other guards' business
        assert found is None or found.kind != "mismatch" or found.what == "grad modified", (
            str(found),
            problem,
        )
        target = record(foreach, problem)
        reference = record(forloop, problem)
        if target.error is not None or reference.error is not None:
            return
        worst[1] += 1
        need = ulps_needed(problem, target, {"forloop": reference}, _oracle_thunk(spec, problem))
        worst[0] = max(worst[0], need)

    judge()
    return worst[0], int(worst[1])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_the_budget_admits_torchs_own_implementations(dtype: torch.dtype) -> None:
    budget = tolerances.budget(dtype)
    measured = {name: needed_ulps(name, dtype) for name in NAMES}
    largest = max(need for need, _ in measured.values())
    assert all(n > 0 for _, n in measured.values())
    assert largest <= budget.ulps, measured


def test_the_budget_is_recorded_with_its_evidence() -> None:
    for dtype in DTYPES:
        b = tolerances.BUDGETS[dtype]
        assert b.factor >= 1 and b.ulps > 0
        assert "measured" in b.evidence and "test_budgets.py" in b.evidence


def _show(values: dict[Any, Any]) -> str:  # pragma: no cover - a measuring aid
    return ", ".join(f"{k}: {v[0]:.3g} ({v[1]} ex)" for k, v in values.items())


if __name__ == "__main__":  # pragma: no cover - ``python -m tests.test_properties.test_budgets``
    torch.set_num_threads(1)
    for d in DTYPES:
        print(d, _show({n: needed_ulps(n, d, 100) for n in NAMES}), flush=True)
