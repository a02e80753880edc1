"""Hypothesis strategies: hyperparameters, tensors, gradient streams and whole problems.

Bulk tensor values come from a seeded ``torch.Generator`` (drawing thousands of floats
element by element is slow and shrinks no better); everything that decides *behaviour* is
drawn by Hypothesis and shrinks: shapes, dtypes, the number of parameters and groups, each
gradient's kind (normal at a drawn power-of-ten scale, exact zeros, ``None``, with ``inf`` or
``NaN`` entries), the step count, hyperparameters and their changes between steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from optverify.properties.harness import Problem

__all__ = [
    "DEFAULT_DTYPES",
    "GRAD_KINDS",
    "SIMD_SIZES",
    "ShapeStrategy",
    "beta",
    "coverage_shapes",
    "eps",
    "learning_rate",
    "make_tensor",
    "nonnegative",
    "overflow_band",
    "problems",
    "shapes",
]

DEFAULT_DTYPES = (torch.float64, torch.float32)

#: how one gradient of one step is made (``None`` means "no gradient")
GRAD_KINDS = ("normal", "normal", "normal", "normal", "zeros", "none", "nonfinite")

ShapeStrategy = st.SearchStrategy[tuple[int, ...]]

# Powers of ten at which values are drawn: mostly ordinary, sometimes extreme.
_ORDINARY_EXPONENTS = st.integers(-4, 2)


def overflow_band(dtype: torch.dtype) -> st.SearchStrategy[float]:
    """Scales where ``g * g`` overflows ``dtype`` while ``g`` and ``(1 - beta) * g * g`` need
    not: from the square root of the largest value up to a few times it (float32 about 1.8e19
    to 7e19, float16 256 to 1 000)."""
    root = math.sqrt(float(torch.finfo(_real(dtype)).max))
    return st.sampled_from([1.0, 1.5, 2.0, 3.0]).map(lambda f: f * root)


def _extreme_exponents(dtype: torch.dtype, squares: bool = False) -> st.SearchStrategy[int]:
    """Powers of ten from a little above the smallest normal to a little below overflow of
    ``dtype``; with ``squares``, only those whose squares are normal and finite (the domain
    on which reordered but algebraically equal implementations can agree)."""
    info = torch.finfo(_real(dtype))
    lo = math.floor(math.log10(info.tiny)) + 2
    hi = math.floor(math.log10(info.max)) - 1
    if squares:
        lo, hi = lo // 2 + 1, hi // 2 - 1
    return st.integers(lo, hi)


def _real(dtype: torch.dtype) -> torch.dtype:
    return {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)


# ---------------------------------------------------------------------------------------------
# hyperparameters: the whole valid range, edges included


def learning_rate(max_value: float = 1.0) -> st.SearchStrategy[float]:
    """lr in [0, max_value]; 0 and common values are frequent."""
    return st.sampled_from([0.0, 1e-3, 1e-2, 0.1, max_value]) | st.floats(0.0, max_value)


def beta(min_value: float = 0.0) -> st.SearchStrategy[float]:
    """A decay rate in [min_value, 1): 0 and values close to 1 are frequent."""
    edges = [v for v in (0.0, 0.5, 0.9, 0.99, 0.999, 1 - 1e-7) if v >= min_value]
    return st.sampled_from(edges) | st.floats(min_value, 1.0, exclude_max=True)


def eps(max_value: float = 1.0, min_value: float = 0.0) -> st.SearchStrategy[float]:
    """ε in [min_value, max_value]: exact zero, tiny, typical and large values."""
    edges = [v for v in (0.0, 1e-10, 1e-8, 1e-6, 1e-3, max_value) if v >= min_value]
    return st.sampled_from(edges) | st.floats(min_value, max_value)


def nonnegative(max_value: float = 1.0) -> st.SearchStrategy[float]:
    """A coefficient in [0, max_value] (weight decay, momentum, lr_decay): 0 is frequent."""
    return st.sampled_from([0.0, 0.0, 1e-4, 0.1, max_value]) | st.floats(0.0, max_value)


# ---------------------------------------------------------------------------------------------
# tensors


def shapes(max_dims: int = 2, max_side: int = 4, min_dims: int = 0) -> ShapeStrategy:
    """Small shapes, 0-d and one-element ones included."""
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(tuple)


#: element counts around the vector widths of CPU kernels (16/32/64 lanes and their
#: neighbours), where a kernel's vectorised body meets its scalar tail
SIMD_SIZES = (15, 16, 17, 31, 32, 33, 63, 64, 65)


def coverage_shapes(min_dims: int = 0) -> ShapeStrategy:
    """Everything a kernel can get wrong: small shapes (most often; shrinks to them), sizes
    at SIMD boundaries, up to ~1 000 elements, matrices of those sizes, empty tensors."""
    small = shapes(min_dims=min_dims)
    sized = st.sampled_from(SIMD_SIZES) | st.integers(66, 1000)
    vectors = sized.map(lambda n: (n,))
    matrices = st.tuples(sized, st.integers(2, 3)).map(lambda nm: (nm[0] // nm[1] + 1, nm[1]))
    empty = st.sampled_from([(0,), (3, 0), (0, 2)])
    extra = vectors | matrices
    if min_dims >= 2:
        extra, empty = matrices, st.just((3, 0))
    return st.one_of(small, small, small, extra, empty)


def make_tensor(
    shape: Sequence[int], dtype: torch.dtype, device: str, seed: int, scale: float
) -> Tensor:
    """Standard normal values times ``scale``, reproducible from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    values = torch.randn(tuple(shape), generator=gen, dtype=torch.float64) * scale
    if dtype.is_complex:
        imag = torch.randn(tuple(shape), generator=gen, dtype=torch.float64) * scale
        values = torch.complex(values, imag)
    return values.to(dtype=dtype, device=device)


@st.composite
def _grad(
    draw: st.DrawFn, shape: tuple[int, ...], dtype: torch.dtype, device: str, squares: bool
) -> Tensor | None:
    kind = draw(st.sampled_from(GRAD_KINDS))
    if kind == "none":
        return None
    if kind == "zeros":
        return torch.zeros(shape, dtype=dtype, device=device)
    exponent = draw(st.one_of(_ORDINARY_EXPONENTS, _extreme_exponents(dtype, squares)))
    magnitude = 10.0**exponent
    if not squares and _real(dtype) != torch.float64 and draw(st.integers(0, 9)) == 9:
        magnitude = draw(overflow_band(dtype))
    grad = make_tensor(shape, dtype, device, draw(st.integers(0, 2**16)), magnitude)
    if kind == "nonfinite" and grad.numel():
        flat = grad.view(-1) if grad.dim() else grad.view(1)
        where = draw(st.integers(0, flat.numel() - 1))
        flat[where] = draw(st.sampled_from([math.inf, -math.inf, math.nan]))
    return grad


@st.composite
def problems(
    draw: st.DrawFn,
    hyper: Callable[[], st.SearchStrategy[dict[str, Any]]],
    *,
    dtypes: Sequence[torch.dtype] = DEFAULT_DTYPES,
    device: str = "cpu",
    min_steps: int = 1,
    max_steps: int = 5,
    max_params: int = 3,
    param_shapes: ShapeStrategy | None = None,
    schedulable: Sequence[str] = ("lr",),
    allow_none_grads: bool = True,
    long_steps: int | None = 260,
    reloadable: bool = True,
    finite_squares: bool | Collection[torch.dtype] = False,
    layouts: bool = False,
    mixed_dtypes: bool = False,
    empty_first: bool = False,
) -> Problem:
    """A whole :class:`Problem`: parameters, one or two groups, gradients, a schedule.

    ``hyper()`` draws one group's hyperparameters; ``schedulable`` names the ones an LR
    scheduler may change between steps (``lr`` first of all). Some problems run
    ``long_steps`` steps (the stream repeats) and some checkpoint and reload mid-run.
    ``finite_squares`` (all dtypes, or those named) keeps gradient magnitudes where their
    squares are normal and finite (otherwise, below float64, one gradient in ten lies in the
    :func:`overflow_band`). ``layouts`` makes some parameters non-contiguous views;
    ``mixed_dtypes`` gives, in some problems, each parameter its own dtype; ``empty_first``
    puts, in one problem in eight, an empty parameter first.
    """
    dtype = draw(st.sampled_from(list(dtypes)))
    n_params = draw(st.integers(1, max_params))
    shape_strategy = param_shapes if param_shapes is not None else shapes()
    param_shapes_drawn = [draw(shape_strategy) for _ in range(n_params)]
    if empty_first and draw(st.integers(0, 7)) == 0:
        # an empty tensor ahead of the others, where a loop that stops (or skips) after it
        # leaves parameters unstepped
        param_shapes_drawn.insert(0, (0,))
        n_params += 1
    mixed = mixed_dtypes and len(dtypes) > 1 and n_params > 1 and draw(st.integers(0, 4)) == 4
    param_dtypes = [
        draw(st.sampled_from(list(dtypes))) if mixed else dtype for _ in range(n_params)
    ]
    params = tuple(
        make_tensor(s, d, device, draw(st.integers(0, 2**16)), 10.0 ** draw(st.integers(-2, 2)))
        for s, d in zip(param_shapes_drawn, param_dtypes, strict=True)
    )
    drawn_layouts: tuple[str, ...] = ()
    if layouts:
        drawn_layouts = tuple(
            draw(st.sampled_from(["", "", "", "strided"] + (["transposed"] if len(s) >= 2 else [])))
            if len(s) >= 1 else ""
            for s in param_shapes_drawn
        )  # fmt: skip
        if not any(drawn_layouts):
            drawn_layouts = ()
    n_groups = draw(st.integers(1, 2)) if n_params > 1 else 1
    cut = draw(st.integers(1, n_params - 1)) if n_groups == 2 else n_params
    groups = ((tuple(range(cut)), tuple(range(cut, n_params))) if n_groups == 2 else
              (tuple(range(n_params)),))  # fmt: skip
    hypers = tuple(draw(hyper()) for _ in groups)
    n_steps = draw(st.integers(min_steps, max_steps))
    grads = []
    for _ in range(n_steps):
        row = []
        for s, d in zip(param_shapes_drawn, param_dtypes, strict=True):
            squares = (
                finite_squares if isinstance(finite_squares, bool) else _real(d) in finite_squares
            )
            g = draw(_grad(s, d, device, squares))
            if g is None and not allow_none_grads:
                g = torch.zeros(s, dtype=d, device=device)
            row.append(g)
        grads.append(tuple(row))
    schedule: dict[int, tuple[Mapping[str, Any], ...]] = {}
    if n_steps > 1 and schedulable and draw(st.booleans()):
        at = draw(st.integers(1, n_steps - 1))
        changes = []
        for _ in groups:
            fresh = draw(hyper())
            keys = draw(st.lists(st.sampled_from(list(schedulable)), min_size=1, unique=True))
            changes.append({k: fresh[k] for k in keys if k in fresh})
        schedule[at] = tuple(changes)
    # Now and then a long run: the stream repeats for hundreds of steps (drift that only
    # shows late, such as a step counter kept in low precision).
    steps = draw(st.sampled_from([None] * 19 + [long_steps])) if long_steps else None
    # a checkpoint reloaded mid-run in about half the problems (before step 1 it restores an
    # empty state, which tests little)
    reload_at = None
    if reloadable and draw(st.booleans()):
        reload_at = draw(st.integers(1, n_steps - 1)) if n_steps > 1 else 0
    return Problem(
        params=params,
        groups=groups,
        hyper=hypers,
        grads=tuple(grads),
        schedule=schedule,
        named=draw(st.booleans()),
        steps=steps,
        reload_at=reload_at,
        layouts=drawn_layouts,
    )
