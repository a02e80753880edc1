r"""Closed-loop problems for optimisers that need a closure (LBFGS).

A closure problem gives :attr:`Problem.objective` (the loss of the current parameters) and
:attr:`Problem.steps` (how many ``step(closure)`` calls) instead of a gradient stream; the
harness then compares, after each call, the iterates, the returned loss and the number of
closure evaluations. Objectives, each a deterministic function of the parameters only:

* ``quadratic`` — :math:`\tfrac12 x^\top A x - b^\top x` with
  :math:`A = Q\,\mathrm{diag}(\lambda)Q^\top` of a drawn condition number :math:`10^0 \dots 10^6`
  (complex parameters:
  :math:`\tfrac12 \operatorname{Re}(x^H A x) - \operatorname{Re}(b^H x)`);
* ``rosenbrock`` — :math:`\sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2` (real dtypes);
* ``least_squares`` — a small linear model :math:`W, c` fitted to data:
  :math:`\operatorname{mean}((X W + c - Y)^2)` (real dtypes).

The flat vector :math:`x` is the parameters flattened and concatenated, split into one to
three tensors of drawn shapes, so that the optimiser's own flattening is exercised.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from optverify.properties import strategies as s
from optverify.properties.harness import Problem

__all__ = [
    "CLOSURE_OPTIONS",
    "OBJECTIVES",
    "closure_problems",
    "least_squares",
    "quadratic",
    "rosenbrock",
]

Objective = Callable[[Sequence[Tensor]], Tensor]


def _flat(params: Sequence[Tensor]) -> Tensor:
    return torch.cat([p.reshape(-1) for p in params])


def quadratic(a: Tensor, b: Tensor) -> Objective:
    r""":math:`\tfrac12 x^\top A x - b^\top x` (real part for complex :math:`x`)."""

    def f(params: Sequence[Tensor]) -> Tensor:
        x = _flat(params)
        value = 0.5 * (x.conj() @ (a @ x)) - b.conj() @ x
        return value.real if value.is_complex() else value

    return f


def rosenbrock(params: Sequence[Tensor]) -> Tensor:
    """The n-dimensional Rosenbrock function of the flat parameter vector."""
    x = _flat(params)
    return (100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum()


def least_squares(inputs: Tensor, targets: Tensor) -> Objective:
    """Mean squared error of the linear model ``params = (W, c)`` on ``inputs``/``targets``."""

    def f(params: Sequence[Tensor]) -> Tensor:
        weight, bias = params
        return ((inputs @ weight + bias - targets) ** 2).mean()

    return f


OBJECTIVES = ("quadratic", "rosenbrock", "least_squares")


def _split(x: Tensor, draw: st.DrawFn) -> tuple[Tensor, ...]:
    """``x`` cut into one to three contiguous pieces, each reshaped to a drawn shape."""
    n = x.numel()
    cuts = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=2)))) if n > 1 else []
    pieces = []
    for lo, hi in zip([0, *cuts], [*cuts, n], strict=True):
        piece = x[lo:hi].clone()
        if piece.numel() == 1 and draw(st.booleans()):
            piece = piece.reshape(())
        elif piece.numel() % 2 == 0 and draw(st.booleans()):
            piece = piece.reshape(2, -1)
        pieces.append(piece)
    return tuple(pieces)


@st.composite
def _objective(
    draw: st.DrawFn, dtype: torch.dtype, device: str, kinds: Sequence[str] = OBJECTIVES
) -> tuple[tuple[Tensor, ...], Objective]:
    allowed = [k for k in kinds if k == "quadratic" or not dtype.is_complex]
    kind = draw(st.sampled_from(allowed))
    seed = draw(st.integers(0, 2**16))
    gen = torch.Generator().manual_seed(seed)
    if kind == "least_squares":
        n_in, n_out, n_rows = (
            draw(st.integers(1, 3)),
            draw(st.integers(1, 2)),
            draw(st.integers(1, 6)),
        )
        inputs = torch.randn(n_rows, n_in, generator=gen, dtype=torch.float64)
        targets = torch.randn(n_rows, n_out, generator=gen, dtype=torch.float64)
        weight = torch.randn(n_in, n_out, generator=gen, dtype=torch.float64)
        bias = torch.randn(n_out, generator=gen, dtype=torch.float64)
        params = tuple(t.to(dtype=dtype, device=device) for t in (weight, bias))
        return params, least_squares(inputs.to(dtype=dtype, device=device),
                                     targets.to(dtype=dtype, device=device))  # fmt: skip
    n = draw(st.integers(1, 6) if kind == "quadratic" else st.integers(2, 6))
    scale = 10.0 ** draw(st.integers(-1, 1))
    x = s.make_tensor((n,), dtype, device, seed, scale)
    if kind == "rosenbrock":
        return _split(x, draw), rosenbrock
    log_cond = draw(st.sampled_from([0.0, 6.0]) | st.floats(0.0, 6.0))
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    eigenvalues = torch.logspace(0.0, log_cond, n, dtype=torch.float64)
    a = (q * eigenvalues) @ q.T
    b = torch.randn(n, generator=gen, dtype=torch.float64)
    return _split(x, draw), quadratic(a.to(dtype=dtype, device=device),
                                      b.to(dtype=dtype, device=device))  # fmt: skip


#: the keyword options :func:`closure_problems` takes: its own (``kinds``) and those of
#: :func:`properties.strategies.problems`, of which it ignores the ones that do not apply to
#: an objective (gradient kinds, parameter shapes and counts, long streams)
CLOSURE_OPTIONS = frozenset({"kinds", *inspect.signature(s.problems).parameters} - {"hyper"})


def closure_problems(
    hyper: Callable[[], st.SearchStrategy[dict[str, Any]]], **options: Any
) -> st.SearchStrategy[Problem]:
    """A closed-loop :class:`Problem` with one param group (LBFGS allows no more).

    Takes the options of :func:`properties.strategies.problems` (ignoring those that do not
    apply to an objective) and ``kinds``, which restricts the objectives (complex dtypes draw
    only ``quadratic``); any other name raises ``TypeError``.
    """
    unknown = sorted(set(options) - CLOSURE_OPTIONS)
    if unknown:
        raise TypeError(
            f"closure_problems: unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(CLOSURE_OPTIONS))}"
        )
    return _closure_problems(hyper, **options)


@st.composite
def _closure_problems(
    draw: st.DrawFn,
    hyper: Callable[[], st.SearchStrategy[dict[str, Any]]],
    *,
    dtypes: Sequence[torch.dtype] = s.DEFAULT_DTYPES,
    device: str = "cpu",
    schedulable: Sequence[str] = ("lr",),
    min_steps: int = 1,
    max_steps: int = 4,
    reloadable: bool = True,
    kinds: Sequence[str] = OBJECTIVES,
    **ignored: Any,
) -> Problem:
    """:func:`closure_problems`, its options checked (``ignored``: options of
    :func:`properties.strategies.problems` that do not apply to an objective)."""
    # complex parameters only where a complex objective (the quadratic) is among the kinds
    usable = [d for d in dtypes if "quadratic" in kinds or not d.is_complex]
    if not usable:
        raise ValueError(f"closure_problems: no objective in {kinds} takes {list(dtypes)}")
    dtype = draw(st.sampled_from(usable))
    params, objective = draw(_objective(dtype, device, kinds))
    first = draw(hyper())
    n_steps = draw(st.integers(min_steps, max_steps))
    schedule: dict[int, tuple[dict[str, Any], ...]] = {}
    if n_steps > 1 and schedulable and draw(st.booleans()):
        fresh = draw(hyper())
        keys = draw(st.lists(st.sampled_from(list(schedulable)), min_size=1, unique=True))
        schedule[draw(st.integers(1, n_steps - 1))] = ({k: fresh[k] for k in keys if k in fresh},)
    reload_at = draw(st.none() | st.integers(0, n_steps - 1)) if reloadable else None
    return Problem(
        params=params,
        groups=(tuple(range(len(params))),),
        hyper=(first,),
        schedule=schedule,
        objective=objective,
        steps=n_steps,
        named=draw(st.booleans()),
        reload_at=reload_at,
    )
