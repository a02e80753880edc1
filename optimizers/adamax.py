r"""Adamax (Adam with an infinity-norm second moment), L2 weight decay and maximize.

Written to agree bit-for-bit with ``torch.optim.Adamax(foreach=False)``
(torch 2.13, ``torch/optim/adamax.py:226-303``; state creation 92-116).
Symbols: :math:`\gamma` lr, :math:`\beta_1, \beta_2` betas, :math:`\epsilon` eps,
:math:`\lambda` weight_decay, :math:`t` the step count after the increment (first step 1),
:math:`m` ``exp_avg``, :math:`u` ``exp_inf``. The LaTeX is grouped as the code computes it.

.. math::

   \begin{aligned}
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                         \\
   t        &\leftarrow t + 1                                                              \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}   && \text{if } \lambda \ne 0            \\
   m_t      &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)
              = m_{t-1} + (1-\beta_1)(g_t - m_{t-1})                                          \\
   u_t      &\leftarrow \max\bigl(\beta_2\, u_{t-1},\; |g_t| + \epsilon\bigr)                  \\
   \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\; m_t / u_t
   \end{aligned}

With ``capturable=True`` torch keeps :math:`t` on the parameter's device and computes the
last line as :math:`\theta_t \leftarrow \theta_{t-1} + m_t \,/\, \bigl(u_t \cdot
((\beta_1^t - 1) / \gamma)\bigr)` in tensor arithmetic (no ``.item()``); this module does
the same, so the two paths round differently, exactly as torch's do.

.. note::
   :math:`\epsilon` is added to :math:`|g_t|` *inside* the maximum (the paper has no
   :math:`\epsilon`), so :math:`u_t \ge \epsilon` and there is no :math:`\epsilon` in the
   denominator of the update. :math:`u` gets no bias correction. The bias correction of
   :math:`m` is computed in Python double from ``step.item()`` (``step`` a float32 tensor,
   exact up to :math:`2^{24}` steps). The maximum propagates NaN; with ``differentiable=True``
   torch takes it as ``amax`` over a stack instead, which gives the same numbers but can give
   NaNs with other bits (the vectorised CPU ``maximum`` may return an all-ones NaN, ``amax``
   the canonical one), so this module follows the flag. Complex parameters are updated as
   independent real pairs (``torch.view_as_real``, after the weight decay), so :math:`|g_t|`
   is the absolute value of each real component, not the complex modulus.
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

__all__ = ["Adamax", "AdamaxConfig", "AdamaxState", "init", "step"]


@dataclass(frozen=True)
class AdamaxConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    beta1: float | Tensor = field(metadata=group_key("betas", 0))
    beta2: float | Tensor = field(metadata=group_key("betas", 1))
    eps: float  # epsilon
    weight_decay: float  # lambda
    maximize: bool
    # ``step`` on the param device and the tensor-only update
    capturable: bool = field(default=False, metadata=group_key(convert=bool))
    # torch takes the maximum with ``amax`` over a stack
    differentiable: bool = field(default=False, metadata=group_key(convert=bool))


class AdamaxState(NamedTuple):
    step: Tensor  # t
    exp_avg: Tensor  # m_t
    exp_inf: Tensor  # u_t


def init(param: Tensor, grad: Tensor | None, cfg: AdamaxConfig) -> AdamaxState:
    """Zero moments shaped like ``param``; ``step`` placed as torch places it."""
    zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
    return AdamaxState(
        step=step_counter(param, on_param_device=cfg.capturable),
        exp_avg=zeros,
        exp_inf=zeros.clone(),
    )


def step(
    param: Tensor, grad: Tensor, state: AdamaxState, cfg: AdamaxConfig
) -> tuple[Tensor, AdamaxState]:
    """One Adamax step on one parameter. Pure: returns new tensors."""
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    step_t = state.step + 1  # t
    if cfg.weight_decay != 0:
        g = g.add(param, alpha=cfg.weight_decay)  # g_t + lambda theta
    complex_param = torch.is_complex(param)
    exp_avg, exp_inf = state.exp_avg, state.exp_inf
    if complex_param:
        param, g, exp_avg, exp_inf = map(torch.view_as_real, (param, g, exp_avg, exp_inf))
    exp_avg = exp_avg.lerp(g, 1 - cfg.beta1)  # m_t
    if cfg.differentiable:  # torch's graph-friendly form; its NaNs carry other bits
        exp_inf = torch.stack([exp_inf.mul(cfg.beta2), g.abs().add(cfg.eps)]).amax(0)  # u_t
    else:
        exp_inf = torch.maximum(exp_inf.mul(cfg.beta2), g.abs().add(cfg.eps))  # u_t
    if cfg.capturable:
        neg_bias_correction = (cfg.beta1**step_t - 1).div(cfg.lr)  # (beta1^t - 1) / gamma
        param = param.addcdiv(exp_avg, exp_inf * neg_bias_correction)  # theta_t
    else:
        # a float, or a 0-d tensor for a Tensor lr: torch's Scalar arguments accept both
        clr: Any = cfg.lr / (1 - cfg.beta1 ** step_t.item())  # gamma / (1 - beta1^t)
        param = param.addcdiv(exp_avg, exp_inf, value=-clr)  # theta_t
    if complex_param:
        param, exp_avg, exp_inf = map(torch.view_as_complex, (param, exp_avg, exp_inf))
    return param, AdamaxState(step_t, exp_avg, exp_inf)


class Adamax(FunctionalOptimizer):
    """``torch.optim.Adamax`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = AdamaxConfig.from_group
    state_type = AdamaxState
    init_param = init
    step_param = step
    sparse_grad_error = "Adamax does not support sparse gradients"

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        # torch's checks in torch's order; ``0.0 <= x`` kept so odd types fail with torch's text.
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:  # noqa: SIM300
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:  # noqa: SIM300
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:  # noqa: SIM300
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
