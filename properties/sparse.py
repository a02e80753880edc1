"""Problems with sparse (COO) gradients: SparseAdam, and SGD/Adagrad where torch takes them.

A sparse problem is a dense :func:`properties.strategies.problems` problem over parameters
of dimension >= 1 whose every gradient is replaced by a COO tensor of the same size: random
indices along the first dimension (hybrid COO, the layout ``nn.Embedding(sparse=True)``
produces) or along every dimension, with *duplicate indices* drawn often (torch sums them
when it coalesces), delivered coalesced or not, sometimes with no entry at all, and with the
same value kinds as dense streams (ordinary, extreme, exact zeros, ``inf``/``NaN``).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from optverify.properties import strategies as s
from optverify.properties.harness import Problem

__all__ = ["SPARSE_OPTIONS", "SPARSE_REFUSED", "sparse_grad", "sparse_problems"]

#: hyperparameters with which torch refuses sparse gradients when non-zero (SGD: ``add(sparse,
#: dense)``; Adagrad: "weight_decay option is not compatible with sparse gradients"). Problems
#: set them to 0 in three of four examples so that most exercise the sparse update itself.
SPARSE_REFUSED = ("weight_decay",)


@st.composite
def sparse_grad(
    draw: st.DrawFn,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    device: str,
    finite_squares: bool = False,
) -> Tensor:
    """A COO gradient of size ``shape`` (``len(shape) >= 1``), duplicates and all."""
    sparse_dims = draw(st.sampled_from([1, len(shape)]))
    n_entries = draw(st.sampled_from([0]) | st.integers(1, 2 * shape[0] + 1))
    # few distinct positions make duplicates likely; Hypothesis shrinks towards index 0
    index = torch.tensor(
        [
            [draw(st.integers(0, side - 1)) for _ in range(n_entries)]
            for side in shape[:sparse_dims]
        ],
        dtype=torch.int64,
    ).reshape(sparse_dims, n_entries)
    kind = draw(st.sampled_from(["normal", "normal", "normal", "zeros", "nonfinite"]))
    value_shape = (n_entries, *shape[sparse_dims:])
    if kind == "zeros":
        values = torch.zeros(value_shape, dtype=dtype)
    else:
        exponent = draw(st.one_of(st.integers(-4, 2), s._extreme_exponents(dtype, finite_squares)))
        values = s.make_tensor(
            value_shape, dtype, "cpu", draw(st.integers(0, 2**16)), 10.0**exponent
        )
        if kind == "nonfinite" and values.numel():
            flat = values.view(-1)
            flat[draw(st.integers(0, flat.numel() - 1))] = draw(
                st.sampled_from([math.inf, -math.inf, math.nan])
            )
    grad = torch.sparse_coo_tensor(index, values, shape, dtype=dtype, check_invariants=True)
    if draw(st.booleans()):
        grad = grad.coalesce()
    return grad.to(device)


#: the keyword options :func:`sparse_problems` takes (its own, and those of
#: :func:`properties.strategies.problems`, to which it passes the rest)
SPARSE_OPTIONS = frozenset({"refused", *inspect.signature(s.problems).parameters} - {"hyper"})


def sparse_problems(
    hyper: Callable[[], st.SearchStrategy[dict[str, Any]]], **options: Any
) -> st.SearchStrategy[Problem]:
    """A :func:`~properties.strategies.problems` problem with every gradient made sparse.

    Parameters have at least one dimension (a COO tensor needs one to index). ``refused``
    names hyperparameters with which torch refuses sparse gradients; they are zeroed in three
    of four problems (in every group and schedule change), left as drawn in the rest, where
    ours must refuse as torch does. The other options are those of
    :func:`~properties.strategies.problems`; any other name raises ``TypeError``.
    """
    unknown = sorted(set(options) - SPARSE_OPTIONS)
    if unknown:
        raise TypeError(
            f"sparse_problems: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(SPARSE_OPTIONS))}"
        )
    return _sparse_problems(hyper, **options)


@st.composite
def _sparse_problems(
    draw: st.DrawFn,
    hyper: Callable[[], st.SearchStrategy[dict[str, Any]]],
    *,
    dtypes: Sequence[torch.dtype] = s.DEFAULT_DTYPES,
    device: str = "cpu",
    param_shapes: s.ShapeStrategy | None = None,
    finite_squares: bool = False,
    refused: Sequence[str] = SPARSE_REFUSED,
    **options: Any,
) -> Problem:
    """:func:`sparse_problems`, its options checked."""
    shapes = param_shapes if param_shapes is not None else s.shapes(min_dims=1)
    shapes = shapes.filter(lambda shape: len(shape) >= 1)
    dense = draw(
        s.problems(
            hyper, dtypes=dtypes, device=device, param_shapes=shapes,
            finite_squares=finite_squares, **options,
        )
    )  # fmt: skip
    grads = tuple(
        tuple(
            None
            if g is None
            else draw(sparse_grad(tuple(g.shape), g.dtype, device, finite_squares))
            for g in row
        )
        for row in dense.grads
    )
    problem = replace(dense, grads=grads)
    if refused and draw(st.integers(0, 3)) != 3:

        def zeroed(h: Any) -> dict[str, Any]:
            return {**h, **{k: 0.0 for k in refused if k in h}}

        problem = replace(
            problem,
            hyper=tuple(zeroed(h) for h in problem.hyper),
            schedule={k: tuple(zeroed(c) for c in ch) for k, ch in problem.schedule.items()},
        )
    return problem
