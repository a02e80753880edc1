"""Shared helpers: problems for the adapter tests, and the domain restriction they document.

``float_lr(builder)`` gives every drawn problem a Python-float learning rate and no decay rate
below 1e-12. Both restrictions keep out differences of torch's own, shown by the tests that
name them (:mod:`tests.test_adapters.test_optax`): with a float32 tensor lr torch rounds
``lr / bias_correction`` to float32 even for float64 parameters (1.9e-9 relative, measured),
and with ``1 - β1`` rounding to 1 torch's ``lerp`` drops ``β1 * m`` entirely.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from hypothesis import strategies as st

from optverify.properties.harness import Problem
from optverify.properties.strategies import problems


def _plain(hyper: dict[str, Any], min_eps: float = 0.0) -> dict[str, Any]:
    out = dict(hyper)
    if min_eps and isinstance(out.get("eps"), float) and 0 < out["eps"] < min_eps:
        out["eps"] = min_eps
    if isinstance(out.get("lr"), torch.Tensor):
        out["lr"] = float(out["lr"].item())
    if "betas" in out:
        out["betas"] = tuple(0.0 if b < 1e-12 else b for b in out["betas"])
    return out


def float_lr(min_eps: float = 0.0, **fixed: Any) -> Callable[..., st.SearchStrategy[Problem]]:
    """A ``problem_builder`` for ``assert_conforms``: float lr, decay rates 0 or >= 1e-12,
    and a non-zero ε at least ``min_eps``."""

    def builder(hyper: Callable[[], st.SearchStrategy[dict[str, Any]]], **options: Any) -> Any:
        return problems(lambda: hyper().map(lambda h: _plain(h, min_eps)), **{**options, **fixed})

    return builder


def one_param_problem(grads: list[float], hyper: dict[str, Any], param: float = 1.0) -> Problem:
    """One float64 scalar parameter, one group, the given gradient stream."""
    return Problem(
        params=(torch.tensor(param, dtype=torch.float64),),
        groups=((0,),),
        hyper=(hyper,),
        grads=tuple((torch.tensor(g, dtype=torch.float64),) for g in grads),
    )


def run(cls: type, problem: Problem, **fixed: Any) -> tuple[float, dict[str, Any]]:
    """The parameter after running ``problem`` with ``cls`` and its state (floats)."""
    p = problem.params[0].clone().requires_grad_(True)
    opt = cls([p], **problem.hyper[0], **fixed)
    for row in problem.grads:
        p.grad = row[0].clone()
        opt.step()
    state = {k: (v.item() if isinstance(v, torch.Tensor) else v) for k, v in opt.state[p].items()}
    return p.item(), state
