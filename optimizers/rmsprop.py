r"""RMSprop, plain or centered, with momentum, L2 weight decay and maximize.

Written to agree bit-for-bit with ``torch.optim.RMSprop(foreach=False)``
(torch 2.13, ``torch/optim/rmsprop.py:265-339``; state creation 109-140).
Symbols: :math:`\gamma` lr, :math:`\alpha` alpha, :math:`\epsilon` eps, :math:`\lambda`
weight_decay, :math:`\mu` momentum, :math:`v` ``square_avg``, :math:`\bar g` ``grad_avg``
(centered only), :math:`b` ``momentum_buffer`` (momentum only). The LaTeX is grouped as the
code computes it.

.. math::

   \begin{aligned}
   t        &\leftarrow t + 1 \qquad \text{(counted only; the update does not use it)}    \\
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                        \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}   && \text{if } \lambda \ne 0           \\
   v_t      &\leftarrow \alpha\, v_{t-1} + (1-\alpha)\, g_t^2                              \\
   \bar g_t &\leftarrow \operatorname{lerp}(\bar g_{t-1}, g_t, 1-\alpha)
              = \bar g_{t-1} + (1-\alpha)(g_t - \bar g_{t-1})    && \text{if centered}     \\
   d_t      &\leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon       && \text{if centered}     \\
   d_t      &\leftarrow \sqrt{v_t} + \epsilon                    && \text{otherwise}       \\
   b_t      &\leftarrow \mu\, b_{t-1} + g_t / d_t                && \text{if } \mu > 0     \\
   \theta_t &\leftarrow \theta_{t-1} - \gamma\, b_t              && \text{if } \mu > 0     \\
   \theta_t &\leftarrow \theta_{t-1} - \gamma\, g_t / d_t        && \text{otherwise}
   \end{aligned}

with :math:`v_0 = \bar g_0 = b_0 = 0` and no bias correction.

.. note::
   :math:`\epsilon` sits *outside* the square root (TensorFlow puts it inside). Centered, the
   variance :math:`v_t - \bar g_t^2` can round to a small negative number and
   :math:`\sqrt{\cdot}` then gives NaN, which :math:`\epsilon` cannot guard; torch does the
   same and so does this module. :math:`\alpha` has no upper bound check.

   Which state keys exist is fixed when the state is created, by the group's ``momentum``
   (``momentum_buffer`` iff :math:`\mu > 0`) and ``centered`` (``grad_avg``) at that time.
   Turning either on later in ``param_groups`` raises ``KeyError`` for the missing key, as in
   torch; turning it off keeps the stale tensor in the state. Complex parameters are updated
   as independent real pairs (``torch.view_as_real``, after the weight decay).
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

__all__ = ["RMSprop", "RMSpropConfig", "RMSpropState", "init", "step"]


@dataclass(frozen=True)
class RMSpropConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    alpha: float  # alpha
    eps: float  # epsilon
    weight_decay: float  # lambda
    momentum: float  # mu
    centered: bool
    maximize: bool
    capturable: bool = field(
        default=False, metadata=group_key(convert=bool)
    )  # where torch keeps ``step``


class RMSpropState(NamedTuple):
    step: Tensor  # t
    square_avg: Tensor  # v_t
    momentum_buffer: Tensor | None = None  # b_t (only if momentum > 0 at creation)
    grad_avg: Tensor | None = None  # bar g_t (only if centered at creation)


def init(param: Tensor, grad: Tensor | None, cfg: RMSpropConfig) -> RMSpropState:
    """Zero averages shaped like ``param``; the optional ones only where torch makes them."""
    zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
    return RMSpropState(
        step=step_counter(param, on_param_device=cfg.capturable),
        square_avg=zeros,
        momentum_buffer=zeros.clone() if cfg.momentum > 0 else None,
        grad_avg=zeros.clone() if cfg.centered else None,
    )


def step(
    param: Tensor, grad: Tensor, state: RMSpropState, cfg: RMSpropConfig
) -> tuple[Tensor, RMSpropState]:
    """One RMSprop step on one parameter. Pure: returns new tensors."""
    # torch looks the optional buffers up before it updates anything (rmsprop.py:135-140).
    if cfg.momentum > 0 and state.momentum_buffer is None:
        raise KeyError("momentum_buffer")
    if cfg.centered and state.grad_avg is None:
        raise KeyError("grad_avg")
    lr: Any = cfg.lr  # a float or a 0-d tensor: torch's Scalar arguments accept both
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    step_t = state.step + 1  # t
    if cfg.weight_decay != 0:
        g = g.add(param, alpha=cfg.weight_decay)  # g_t + lambda theta
    complex_param = torch.is_complex(param)
    square_avg, buf, grad_avg = state.square_avg, state.momentum_buffer, state.grad_avg
    if complex_param:
        param, g, square_avg = map(torch.view_as_real, (param, g, square_avg))
    square_avg = square_avg.mul(cfg.alpha).addcmul(g, g, value=1 - cfg.alpha)  # v_t
    if cfg.centered:
        assert grad_avg is not None
        if complex_param:
            grad_avg = torch.view_as_real(grad_avg)
        grad_avg = grad_avg.lerp(g, 1 - cfg.alpha)  # bar g_t
        avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt().add(cfg.eps)  # d_t
        if complex_param:
            grad_avg = torch.view_as_complex(grad_avg)
    else:
        avg = square_avg.sqrt().add(cfg.eps)  # d_t
    if cfg.momentum > 0:
        assert buf is not None
        if complex_param:
            buf = torch.view_as_real(buf)
        buf = buf.mul(cfg.momentum).addcdiv(g, avg)  # b_t
        param = param.add(buf, alpha=-lr)  # theta_t
        if complex_param:
            buf = torch.view_as_complex(buf)
    else:
        param = param.addcdiv(g, avg, value=-lr)  # theta_t
    if complex_param:
        param, square_avg = map(torch.view_as_complex, (param, square_avg))
    return param, RMSpropState(step_t, square_avg, buf, grad_avg)


class RMSprop(FunctionalOptimizer):
    """``torch.optim.RMSprop`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = RMSpropConfig.from_group
    state_type = RMSpropState
    init_param = init
    step_param = step
    sparse_grad_error = "RMSprop does not support sparse gradients"

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        # torch's checks in torch's order; ``0.0 <= x`` kept so odd types fail with torch's text.
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:  # noqa: SIM300
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:  # noqa: SIM300
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:  # noqa: SIM300
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:  # noqa: SIM300
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:  # noqa: SIM300
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
