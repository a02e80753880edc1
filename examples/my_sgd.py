"""A user's SGD, written from the textbook rather than copied from torch: the sample target
of ``optverify check`` in CI.

    optverify check examples/my_sgd.py:MySGD --against SGD

Momentum (heavy ball, with dampening), Nesterov momentum, L2 weight decay and ``maximize``,
with torch's constructor checks; ``foreach``/``fused`` are not offered, so only the
hyperparameters both take are varied. The arithmetic uses fused ``add(x, alpha=a)`` steps
(one rounding each, as torch's for-loop path does): written as ``p - lr * g`` (two roundings)
a float32 run of hundreds of steps drifts by a few ulps, which the check's relative tolerance
reports where a parameter passes close to zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


class MySGD(torch.optim.Optimizer):
    r"""Stochastic gradient descent with momentum.

    With :math:`g_t` the gradient (negated when maximising) plus :math:`\lambda\theta`:

    .. math::
        b_1 = g_1,\qquad b_t = \mu b_{t-1} + (1 - \tau) g_t,\qquad
        \theta_t = \theta_{t-1} - \eta\,(g_t + \mu b_t \text{ if Nesterov else } b_t).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = float(group["lr"])  # a tensor lr acts as its value
            mu, tau, decay = group["momentum"], group["dampening"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = -p.grad if group["maximize"] else p.grad
                if decay != 0:
                    g = g.add(p, alpha=decay)
                if mu != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:  # the first step starts the buffer at g, undampened
                        buf = state["momentum_buffer"] = g.clone()
                    else:
                        buf.mul_(mu).add_(g, alpha=1 - tau)
                    g = g.add(buf, alpha=mu) if group["nesterov"] else buf
                p.add_(g, alpha=-lr)
        return loss
