"""Wrapping a functional (optax-style) optimiser so that ``optverify check`` can judge it.

A functional optimiser is a pair of pure functions built from its hyperparameters::

    transform = adam(lr=1e-3)                      # hyperparameters -> (init, update)
    state = transform.init(params)                 # per-parameter state
    updates, state = transform.update(grads, state, params)
    params = [p + u for p, u in zip(params, updates)]

``optverify check`` compares ``torch.optim.Optimizer`` subclasses, so the functional pair
needs a thin shell: :class:`FunctionalOptimizer` below. It rebuilds the transformation from
each param group's current hyperparameters at every step (so LR schedules work), skips
parameters whose ``grad`` is ``None`` (as torch does), creates state lazily, and stores each
parameter's state fields in ``self.state[p]``, so that ``state_dict()`` checkpoints work and
the check compares the state wherever the field names match torch's keys (name them after
torch's: ``step``, ``exp_avg``, ``exp_avg_sq`` for Adam). Then::

    optverify check examples/functional_wrapper.py:FunctionalAdam --against Adam

The same shell fits a JAX/optax optimiser: convert tensors with ``jax.dlpack`` or through
NumPy inside ``update`` and back, and keep float64 enabled in JAX
(``jax.config.update("jax_enable_x64", True)``) for float64 parameters.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

__all__ = ["AdamState", "FunctionalAdam", "FunctionalOptimizer", "Transformation", "adam"]


class Transformation(NamedTuple):
    """optax's ``GradientTransformation``: ``init(params)`` and ``update(grads, state, params)``."""

    init: Callable[[Sequence[Tensor]], list[Any]]
    update: Callable[
        [Sequence[Tensor], Sequence[Any], Sequence[Tensor]], tuple[list[Tensor], list[Any]]
    ]


# ---------------------------------------------------------------------------------------------
# the functional optimiser: pure functions, no torch.optim anywhere


class AdamState(NamedTuple):
    """One parameter's Adam state; the field names are torch's state keys."""

    step: Tensor
    exp_avg: Tensor
    exp_avg_sq: Tensor


def adam(
    lr: float | Tensor = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> Transformation:
    r"""Adam as a pure transformation (weight decay as an L2 term, like ``torch.optim.Adam``).

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,
        \quad u_t = -\frac{\eta}{1-\beta_1^t}\,\frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}
    """
    beta1, beta2 = betas

    def init(params: Sequence[Tensor]) -> list[AdamState]:
        return [
            AdamState(
                torch.tensor(0.0, dtype=torch.float32),
                torch.zeros_like(p, memory_format=torch.preserve_format),
                torch.zeros_like(p, memory_format=torch.preserve_format),
            )
            for p in params
        ]

    def update(
        grads: Sequence[Tensor], state: Sequence[AdamState], params: Sequence[Tensor]
    ) -> tuple[list[Tensor], list[AdamState]]:
        updates, new_state = [], []
        for g, s, p in zip(grads, state, params, strict=True):
            step = s.step + 1
            if weight_decay != 0:
                g = g.add(p, alpha=weight_decay)
            # torch.optim.Adam treats a complex number as a pair of reals: each component
            # has its own moments (v holds the squares of the real and imaginary parts)
            real = torch.view_as_real if p.is_complex() else (lambda t: t)
            back = torch.view_as_complex if p.is_complex() else (lambda t: t)
            g_r, m_r, v_r = real(g), real(s.exp_avg), real(s.exp_avg_sq)
            m = back(m_r.lerp(g_r, 1 - beta1))
            v = back(v_r.mul(beta2).addcmul(g_r, g_r, value=1 - beta2))
            t = step.item()
            step_size = lr / (1 - beta1**t)
            denom = (real(v).sqrt() / math.sqrt(1 - beta2**t)).add(eps)
            # the update as a tensor, as optax returns it; the shell adds it to the parameter
            update = torch.zeros_like(real(p)).addcdiv(real(m), denom, value=-step_size)  # type: ignore[arg-type]
            updates.append(back(update))
            new_state.append(AdamState(step, m, v))
        return updates, new_state

    return Transformation(init, update)


# ---------------------------------------------------------------------------------------------
# the shell: any (init, update) pair as a torch.optim.Optimizer


class FunctionalOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` around ``transformation(**hyperparameters)``.

    Subclasses set :attr:`transformation` (hyperparameters -> :class:`Transformation`) and
    :attr:`state_type` (the NamedTuple of one parameter's state) and give ``__init__`` the
    constructor signature and checks of the torch optimiser they claim to be.
    """

    transformation: ClassVar[Callable[..., Transformation]]
    state_type: ClassVar[type[Any]]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            # the group's hyperparameters the transformation takes (groups also hold "params",
            # "param_names" and whatever torch adds)
            taken = inspect.signature(type(self).transformation).parameters
            transform = type(self).transformation(**{k: group[k] for k in taken if k in group})
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            fresh = [p for p in params if not self.state[p]]
            for p, s in zip(fresh, transform.init(fresh), strict=True):
                self.state[p].update(s._asdict())
            states = [self.state_type(**self.state[p]) for p in params]
            updates, new_states = transform.update([p.grad for p in params], states, params)
            for p, u, s in zip(params, updates, new_states, strict=True):
                # complex: add component-wise (a complex add_ would multiply u by 1+0j,
                # spreading a NaN from one component to the other)
                if p.is_complex():
                    torch.view_as_real(p).add_(torch.view_as_real(u))
                else:
                    p.add_(u)
                self.state[p].update(s._asdict())
        return loss


class FunctionalAdam(FunctionalOptimizer):
    """:func:`adam` with ``torch.optim.Adam``'s constructor (the hyperparameters it has)."""

    transformation = staticmethod(adam)
    state_type = AdamState

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)
