"""What the conformance property draws: the default coverage (:func:`problem_strategy`),
out-of-range hyperparameters (:func:`sometimes_invalid`) and the edge-value sweep of the
validation check (:func:`edge_problems`); each honours the spec's capabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from hypothesis import strategies as st

from optverify.properties.capabilities import ProblemBuilder, Spec
from optverify.properties.harness import Problem
from optverify.properties.strategies import problems

__all__ = ["EDGE_VALUES", "edge_problems", "problem_strategy", "sometimes_invalid"]


@st.composite
def sometimes_invalid(
    draw: st.DrawFn, base: st.SearchStrategy[Problem], spec: Spec, pinned: frozenset[str]
) -> Problem:
    """``base``'s problem; in about one in five, one first-group hyperparameter out of range."""
    problem = draw(base)
    keys = sorted(k for k in spec.invalid if k in problem.hyper[0] and k not in pinned)
    if not keys or draw(st.integers(0, 4)) != 4:  # shrinks towards a valid problem
        return problem
    key = draw(st.sampled_from(keys))
    first = {**problem.hyper[0], key: draw(spec.invalid[key])}
    return replace(problem, hyper=(first, *problem.hyper[1:]))


# Every edge a constructor's range check can get wrong: signs, zero of both signs, the unit
# boundary of decay rates, and the non-finite values.
EDGE_VALUES = (-1.0, -1e-8, -0.0, 0.0, 1.0, 1.5, 2.0, math.nan, math.inf, -math.inf)


def edge_problems(spec: Spec, problem: Problem, pinned: frozenset[str]) -> list[Problem]:
    """``problem`` with one first-group hyperparameter (of those ``spec.invalid`` names, not
    pinned) at a time set to each of :data:`EDGE_VALUES`; in a pair, one component at a time.

    Run after the drawn examples, they make the validation check independent of luck: a
    constructor that accepts, say, a negative learning rate torch rejects is always caught.
    """
    first = problem.hyper[0]
    found: list[Problem] = []
    for key in sorted(k for k in spec.invalid if k in first and k not in pinned):
        value = first[key]
        if isinstance(value, bool):
            continue
        if isinstance(value, tuple):
            candidates: list[Any] = [
                tuple(edge if j == i else v for j, v in enumerate(value))
                for i in range(len(value))
                for edge in EDGE_VALUES
            ]
        else:
            candidates = list(EDGE_VALUES)
        found += [
            replace(problem, hyper=({**first, key: c}, *problem.hyper[1:])) for c in candidates
        ]
    return found


def problem_strategy(
    spec: Spec,
    hyper: Callable[[], st.SearchStrategy[dict[str, Any]]],
    dtypes: Sequence[torch.dtype],
    device: str = "cpu",
    *,
    exact: bool = False,
    problem_builder: ProblemBuilder | None = None,
    sparse: bool = True,
    layouts: bool = True,
) -> st.SearchStrategy[Problem]:
    """The default coverage of :func:`~optverify.properties.conformance.assert_conforms` (and
    ``optverify audit-torch``): ``spec``'s problems on ``dtypes`` with ``hyper``'s
    hyperparameters; for dense gradient streams, shapes across SIMD sizes, empty and
    non-contiguous parameters, mixed dtypes and (unless ``exact``) the overflow band of g²
    below float64; sparse gradients mixed in where torch's class takes them; fitted to the
    spec's refusals (:meth:`~optverify.properties.capabilities.Spec.fit`)."""
    builder = problem_builder or spec.problems or problems
    options: dict[str, Any] = {
        "dtypes": tuple(dtypes), "device": device, "schedulable": spec.schedulable,
        "param_shapes": spec.shapes(),
    }  # fmt: skip
    if builder is problems:
        # an empty vector first is no parameter a matrices-only class takes (only_2d)
        options["param_shapes"] = spec.shapes(coverage=True)
        options.update(layouts=layouts, mixed_dtypes=True, empty_first=not spec.only_2d)
    if builder is problems and not exact:
        # float64's range effects (|g| beyond 1e154) are no practical concern; the overflow
        # band of the narrower dtypes is (float16 gradients above 256 are ordinary)
        options["finite_squares"] = (torch.float64,)
    strategy = builder(hyper, **options)
    if sparse and problem_builder is None and spec.supports_sparse and spec.problems is None:
        from optverify.properties.sparse import sparse_problems

        sparse_dtypes = tuple(
            d for d in dtypes
            if d in (torch.float64, torch.float32, torch.complex128, torch.complex64)
        )  # fmt: skip
        if sparse_dtypes:
            sparse_strategy: st.SearchStrategy[Problem] = sparse_problems(
                hyper, dtypes=sparse_dtypes, device=device, schedulable=spec.schedulable
            )
            # one problem in four sparse (one_of would give each distinct branch an equal
            # share: half the budget on sparse gradients)
            dense = strategy
            strategy = st.sampled_from((0, 1, 2, 3)).flatmap(
                lambda i: sparse_strategy if i == 3 else dense
            )
    return spec.fit(strategy)
