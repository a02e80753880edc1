r"""SGD with momentum, dampening, Nesterov and coupled weight decay.

Written to agree bit-for-bit with ``torch.optim.SGD(foreach=False)``
(torch 2.13, ``torch/optim/sgd.py:322-379``). Symbols: :math:`\gamma` lr,
:math:`\mu` momentum, :math:`\tau` dampening, :math:`\lambda` weight_decay.

.. math::

   \begin{aligned}
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                    \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}  && \text{if } \lambda \ne 0          \\
   b_1      &\leftarrow g_1                          && \text{(first step: a copy, no dampening)} \\
   b_t      &\leftarrow \mu\, b_{t-1} + (1-\tau)\, g_t && (t > 1)                        \\
   g_t      &\leftarrow g_t + \mu\, b_t \text{ if nesterov else } b_t && \text{if } \mu \ne 0 \\
   \theta_t &\leftarrow \theta_{t-1} - \gamma\, g_t
   \end{aligned}

.. note::
   The learning rate multiplies the velocity *outside* the buffer (``b`` holds no
   :math:`\gamma`), unlike the "v ← γv + η∇L" form of many course notes; the two agree only
   while the learning rate is constant (see ``optimizers/notes.py``). The "first step" is the
   first step on which the parameter has a gradient: the buffer is created lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._shell import (
    FunctionalOptimizer,
    GroupConfig,
    check_fused_flags,
    group_key,
    to_scalar,
)

__all__ = ["SGD", "SGDConfig", "SGDState", "init", "step"]


@dataclass(frozen=True)
class SGDConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    momentum: float  # mu
    dampening: float  # tau
    weight_decay: float | Tensor  # lambda
    nesterov: bool
    maximize: bool


class SGDState(NamedTuple):
    momentum_buffer: Tensor | None = None  # b_t (absent until the first step with momentum)


def init(param: Tensor, grad: Tensor | None, cfg: SGDConfig) -> SGDState:
    """SGD keeps no state until its first momentum step."""
    return SGDState()


def step(param: Tensor, grad: Tensor, state: SGDState, cfg: SGDConfig) -> tuple[Tensor, SGDState]:
    """One SGD step on one parameter. Pure: returns new tensors."""
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    if cfg.weight_decay != 0:
        g = g.add(param, alpha=cfg.weight_decay)  # type: ignore[arg-type]  # g_t + lambda theta
    buf = state.momentum_buffer
    if cfg.momentum != 0:
        if buf is None:
            buf = g.detach().clone()  # b_1 = g_1
        else:
            # b_t, in place on a copy as torch does: for a sparse buffer the in-place ops
            # leave it uncoalesced, and theta's update rounds differently from a coalesced
            # one (found by Hypothesis)
            buf = buf.clone().mul_(cfg.momentum).add_(g, alpha=1 - cfg.dampening)
        g = g.add(buf, alpha=cfg.momentum) if cfg.nesterov else buf
    new_param = param.add(g, alpha=-cfg.lr)  # type: ignore[arg-type]  # theta_t
    return new_param, SGDState(buf)


class SGD(FunctionalOptimizer):
    """``torch.optim.SGD`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = SGDConfig.from_group
    state_type = SGDState
    init_param = init
    step_param = step
    accepts_sparse_grad = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        check_fused_flags(fused, foreach, differentiable)

    def _check_param(self, p: Tensor, group: dict[str, Any]) -> None:
        if group.get("fused") and p.grad is not None and p.grad.is_sparse:
            raise RuntimeError("`_fused_sgd` does not support sparse gradients")
        super()._check_param(p, group)
