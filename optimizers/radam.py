r"""RAdam (rectified Adam; coupled or decoupled weight decay, maximize).

Written to agree bit-for-bit with ``torch.optim.RAdam(foreach=False)`` (torch 2.13,
``torch/optim/radam.py``: constructor 32-70, state 92-125, update 256-358).
Symbols: :math:`\gamma` lr, :math:`\beta_1, \beta_2` betas, :math:`\epsilon` eps,
:math:`\lambda` weight_decay, :math:`t` the step count after the increment (first step 1).
The LaTeX is grouped as the code computes it (products left to right).

.. math::

   \begin{aligned}
   g_t        &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                       \\
   t          &\leftarrow t + 1                                                             \\
   \theta     &\leftarrow \theta_{t-1}(1 - \gamma\lambda)  && \lambda\ne0 \text{, decoupled} \\
   g_t        &\leftarrow g_t + \lambda\,\theta_{t-1}       && \lambda\ne0 \text{, coupled} \\
   m_t        &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)
                = m_{t-1} + (1-\beta_1)(g_t - m_{t-1})                                        \\
   v_t        &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2                               \\
   c_1        &\leftarrow 1 - \beta_1^{\,t}, \qquad c_2 \leftarrow 1 - \beta_2^{\,t}            \\
   \hat m_t   &\leftarrow m_t / c_1                                                          \\
   \rho_\infty &\leftarrow 2/(1-\beta_2) - 1                                                 \\
   \rho_t     &\leftarrow \rho_\infty - 2t\,\beta_2^{\,t} / c_2                              \\
   \text{if } \rho_t > 5:& \\
   r_t        &\leftarrow \Bigl(\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}
                                {(\rho_\infty-4)(\rho_\infty-2)\rho_t}\Bigr)^{1/2}             \\
   a_t        &\leftarrow \sqrt{c_2} \,/\, (\sqrt{v_t} + \epsilon)                            \\
   \theta_t   &\leftarrow \theta - ((\hat m_t\,\gamma)\, a_t)\, r_t                           \\
   \text{else}:& \\
   \theta_t   &\leftarrow \theta - \hat m_t\,\gamma
   \end{aligned}

.. note::
   Quirks of torch that this module reproduces:

   * The rectification threshold is :math:`\rho_t > 5` (the paper uses 4); with
     :math:`\beta_2 = 0.999` the first rectified step is :math:`t = 6`. Before it the update
     is plain bias-corrected momentum SGD; :math:`v` is still accumulated.
   * :math:`\epsilon` is added to the *uncorrected* :math:`\sqrt{v_t}`; :math:`\sqrt{c_2}`
     multiplies from outside. :math:`a_t` is a Python double divided by a tensor, which torch
     evaluates as ``reciprocal(sqrt(v) + eps) * sqrt(c_2)``.
   * :math:`c_1, c_2, \rho_t, r_t` are Python doubles from ``step.item()`` (``step`` is a
     float32 CPU tensor, as in Adam).
   * Complex parameters are updated as independent real pairs (``torch.view_as_real``),
     viewed *before* the weight decay.
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

__all__ = ["RAdam", "RAdamConfig", "RAdamState", "init", "rectification", "step"]


@dataclass(frozen=True)
class RAdamConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    beta1: float = field(metadata=group_key("betas", 0))
    beta2: float = field(metadata=group_key("betas", 1))
    eps: float  # epsilon
    weight_decay: float  # lambda
    decoupled_weight_decay: bool
    maximize: bool
    capturable: bool = field(
        default=False, metadata=group_key(convert=bool)
    )  # where torch keeps ``step``


class RAdamState(NamedTuple):
    step: Tensor  # t
    exp_avg: Tensor  # m_t
    exp_avg_sq: Tensor  # v_t


def init(param: Tensor, grad: Tensor | None, cfg: RAdamConfig) -> RAdamState:
    """Zero moments shaped like ``param``; ``step`` placed as torch places it."""
    zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
    return RAdamState(
        step=step_counter(param, on_param_device=cfg.capturable),
        exp_avg=zeros,
        exp_avg_sq=zeros.clone(),
    )


def rectification(t: float, cfg: RAdamConfig) -> tuple[Any, Any, Any]:
    r"""``(c_1, c_2, r_t)`` at step ``t`` (after the increment); ``r_t`` is ``None`` where
    :math:`\rho_t \le 5` (no rectified step)."""
    bias_correction1 = 1 - cfg.beta1**t  # c_1
    bias_correction2 = 1 - cfg.beta2**t  # c_2
    rho_inf = 2 / (1 - cfg.beta2) - 1  # rho_inf
    rho_t = rho_inf - 2 * t * (cfg.beta2**t) / bias_correction2  # rho_t
    rect = None
    if rho_t > 5.0:
        rect = (
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        ) ** 0.5  # r_t
    return bias_correction1, bias_correction2, rect


def step(
    param: Tensor, grad: Tensor, state: RAdamState, cfg: RAdamConfig
) -> tuple[Tensor, RAdamState]:
    """One RAdam step on one parameter. Pure: returns new tensors."""
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    exp_avg, exp_avg_sq = state.exp_avg, state.exp_avg_sq
    complex_param = torch.is_complex(param)
    if complex_param:
        param, g, exp_avg, exp_avg_sq = map(torch.view_as_real, (param, g, exp_avg, exp_avg_sq))
    dtype = param.dtype  # torch updates theta in place: results keep its dtype
    step_t = state.step + 1  # t
    t = step_t.item()
    if cfg.weight_decay != 0:
        if cfg.decoupled_weight_decay:
            param = param.clone().mul_(1 - cfg.lr * cfg.weight_decay)  # theta (1 - gamma lambda)
        else:
            g = g.add(param, alpha=cfg.weight_decay)  # g_t + lambda theta
    exp_avg = exp_avg.lerp(g, 1 - cfg.beta1)  # m_t
    exp_avg_sq = exp_avg_sq.mul(cfg.beta2).addcmul(g, g, value=1 - cfg.beta2)  # v_t
    bias_correction1, bias_correction2, rect = rectification(t, cfg)  # c_1, c_2, r_t
    m_hat = exp_avg / bias_correction1  # hat m_t
    if rect is not None:
        adaptive_lr = (bias_correction2**0.5) / exp_avg_sq.sqrt().add(cfg.eps)  # a_t
        param = param.add(m_hat * cfg.lr * adaptive_lr * rect, alpha=-1.0).to(dtype)  # theta_t
    else:
        param = param.add(m_hat * cfg.lr, alpha=-1.0).to(dtype)  # theta_t
    if complex_param:
        param, exp_avg, exp_avg_sq = map(torch.view_as_complex, (param, exp_avg, exp_avg_sq))
    return param, RAdamState(step_t, exp_avg, exp_avg_sq)


class RAdam(FunctionalOptimizer):
    """``torch.optim.RAdam`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = RAdamConfig.from_group
    state_type = RAdamState
    init_param = init
    step_param = step
    sparse_grad_error = "RAdam does not support sparse gradients"
    capturable_checks_step = False

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
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
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
