r"""Adadelta with L2 weight decay and maximize.

Written to agree bit-for-bit with ``torch.optim.Adadelta(foreach=False)``
(torch 2.13, ``torch/optim/adadelta.py:245-302``; state creation 100-122).
Symbols: :math:`\gamma` lr, :math:`\rho` rho, :math:`\epsilon` eps, :math:`\lambda`
weight_decay, :math:`v` the running average of squared gradients (``square_avg``),
:math:`u` the running average of squared updates (``acc_delta``). The LaTeX is grouped as the
code computes it.

.. math::

   \begin{aligned}
   t        &\leftarrow t + 1 \qquad \text{(counted only; the update does not use it)}    \\
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                        \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}   && \text{if } \lambda \ne 0           \\
   v_t      &\leftarrow \rho\, v_{t-1} + (1-\rho)\, g_t^2                                  \\
   s_t      &\leftarrow \sqrt{v_t + \epsilon}                                              \\
   \Delta_t &\leftarrow \bigl(\sqrt{u_{t-1} + \epsilon} \,/\, s_t\bigr)\, g_t              \\
   u_t      &\leftarrow \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2                             \\
   \theta_t &\leftarrow \theta_{t-1} - \gamma\, \Delta_t
   \end{aligned}

.. note::
   :math:`\epsilon` sits *inside* both square roots, and the ratio of the roots is formed
   before it multiplies :math:`g_t`. ``rho`` may be 1 (then :math:`v` and :math:`u` never
   move from 0 and :math:`\Delta_t = g_t`); torch accepts :math:`\rho \in [0, 1]`.
   Complex parameters are updated as independent real pairs (``torch.view_as_real`` on the
   gradient and both averages, *after* the weight decay); :math:`\Delta_t` is viewed back as
   complex before it is applied. ``step`` is kept (float32 on the CPU, or on the parameter's
   device when ``capturable``) although the update never reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._shell import (
    FunctionalOptimizer,
    GroupConfig,
    group_key,
    step_counter,
    to_scalar,
)

__all__ = ["Adadelta", "AdadeltaConfig", "AdadeltaState", "init", "step"]


@dataclass(frozen=True)
class AdadeltaConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    rho: float  # rho
    eps: float  # epsilon
    weight_decay: float  # lambda
    maximize: bool
    capturable: bool = field(
        default=False, metadata=group_key(convert=bool)
    )  # where torch keeps ``step``


class AdadeltaState(NamedTuple):
    step: Tensor  # t
    square_avg: Tensor  # v_t
    acc_delta: Tensor  # u_t


def init(param: Tensor, grad: Tensor | None, cfg: AdadeltaConfig) -> AdadeltaState:
    """Zero averages shaped like ``param``; ``step`` placed as torch places it."""
    zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
    return AdadeltaState(
        step=step_counter(param, on_param_device=cfg.capturable),
        square_avg=zeros,
        acc_delta=zeros.clone(),
    )


def step(
    param: Tensor, grad: Tensor, state: AdadeltaState, cfg: AdadeltaConfig
) -> tuple[Tensor, AdadeltaState]:
    """One Adadelta step on one parameter. Pure: returns new tensors."""
    step_t = state.step + 1  # t
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    if cfg.weight_decay != 0:
        g = g.add(param, alpha=cfg.weight_decay)  # g_t + lambda theta
    complex_param = torch.is_complex(param)
    square_avg, acc_delta = state.square_avg, state.acc_delta
    if complex_param:
        g, square_avg, acc_delta = map(torch.view_as_real, (g, square_avg, acc_delta))
    square_avg = square_avg.mul(cfg.rho).addcmul(g, g, value=1 - cfg.rho)  # v_t
    std = square_avg.add(cfg.eps).sqrt()  # s_t
    delta = acc_delta.add(cfg.eps).sqrt().div(std).mul(g)  # Delta_t
    acc_delta = acc_delta.mul(cfg.rho).addcmul(delta, delta, value=1 - cfg.rho)  # u_t
    if complex_param:
        square_avg, acc_delta, delta = map(torch.view_as_complex, (square_avg, acc_delta, delta))
    lr: Any = cfg.lr  # a float or a 0-d tensor: torch's Scalar arguments accept both
    param = param.add(delta, alpha=-lr)  # theta_t
    return param, AdadeltaState(step_t, square_avg, acc_delta)


class Adadelta(FunctionalOptimizer):
    """``torch.optim.Adadelta`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = AdadeltaConfig.from_group
    state_type = AdadeltaState
    init_param = init
    step_param = step
    sparse_grad_error = "Adadelta does not support sparse gradients"
    capturable_xla = False

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        # torch's checks in torch's order; ``0.0 <= x`` kept so odd types fail with torch's text.
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:  # noqa: SIM300
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:  # noqa: SIM300
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:  # noqa: SIM300
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
