r"""NAdam and NAdamW (Nesterov-accelerated Adam; coupled or decoupled weight decay, maximize).

Written to agree bit-for-bit with ``torch.optim.NAdam(foreach=False)`` (torch 2.13,
``torch/optim/nadam.py``: constructor 33-74, state 106-154, update 281-378).
Symbols: :math:`\gamma` lr, :math:`\beta_1, \beta_2` betas, :math:`\epsilon` eps,
:math:`\lambda` weight_decay, :math:`\psi` momentum_decay, :math:`\Pi` mu_product,
:math:`t` the step count after the increment (first step 1). The LaTeX is grouped as the
code computes it.

.. math::

   \begin{aligned}
   g_t       &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                        \\
   t         &\leftarrow t + 1, \qquad c_2 \leftarrow 1 - \beta_2^{\,t}                      \\
   \theta    &\leftarrow \theta_{t-1}(1 - \gamma\lambda)  && \lambda\ne0 \text{, decoupled} \\
   g_t       &\leftarrow g_t + \lambda\,\theta_{t-1}       && \lambda\ne0 \text{, coupled} \\
   \mu_t     &\leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{\,t\psi}\bigr)                      \\
   \mu_{t+1} &\leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{\,(t+1)\psi}\bigr)                  \\
   \Pi_t     &\leftarrow \Pi_{t-1}\,\mu_t                                                    \\
   m_t       &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)
               = m_{t-1} + (1-\beta_1)(g_t - m_{t-1})                                         \\
   v_t       &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2                                \\
   d_t       &\leftarrow \sqrt{v_t / c_2} + \epsilon                                          \\
   \theta    &\leftarrow \theta + \frac{-\gamma(1-\mu_t)}{1-\Pi_t}\; g_t / d_t                 \\
   \theta_t  &\leftarrow \theta + \frac{-\gamma\,\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\; m_t / d_t
   \end{aligned}

.. note::
   Quirks of torch that this module reproduces:

   * ``mu_product`` (:math:`\Pi`) is a 0-d tensor of the *scalar* dtype (float32 unless the
     default dtype is float64), kept on the CPU like ``step``, even for float64 parameters:
     :math:`\Pi_t = \Pi_{t-1}\mu_t` is rounded to float32 every step, while
     :math:`\mu_t, \mu_{t+1}, c_2` and the two step sizes are Python doubles computed from
     ``step.item()`` and ``mu_product.item()``. :math:`\Pi_t\mu_{t+1}` is never stored.
   * :math:`\epsilon` is added *outside* the square root, and the bias correction divides
     :math:`v` *inside* it (:math:`\sqrt{v/c_2}`, not :math:`\sqrt v/\sqrt{c_2}` as in Adam
     or in torch's own foreach path, so foreach and for-loop differ by about one ulp).
   * With ``differentiable=True`` torch takes another operation order: the step sizes are
     computed with the float32 tensor :math:`\Pi` (not its ``item()``), :math:`\Pi_t\mu_{t+1}`
     is a float32 tensor, and the step sizes multiply :math:`g_t` and :math:`m_t` before
     ``addcdiv`` (value 1). That order is reproduced here (no autograd graph is recorded).
   * Complex parameters are updated as independent real pairs (``torch.view_as_real``),
     viewed *before* the weight decay (unlike Adam, which views after it).
   * :math:`\mu_t` depends only on :math:`t`; a changed ``momentum_decay`` or
     :math:`\beta_1` in a param group takes effect at the next step, and
     :math:`\Pi` keeps the product of the :math:`\mu` actually used.
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
    scalar_dtype,
    step_counter,
    to_scalar,
)

__all__ = ["NAdam", "NAdamConfig", "NAdamState", "init", "step"]


@dataclass(frozen=True)
class NAdamConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    beta1: float = field(metadata=group_key("betas", 0))
    beta2: float = field(metadata=group_key("betas", 1))
    eps: float  # epsilon
    weight_decay: float  # lambda
    momentum_decay: float  # psi
    decoupled_weight_decay: bool
    maximize: bool
    # torch's other operation order (see the note)
    differentiable: bool = field(default=False, metadata=group_key(convert=bool))
    # where torch keeps ``step`` and ``mu_product``
    capturable: bool = field(default=False, metadata=group_key(convert=bool))


class NAdamState(NamedTuple):
    step: Tensor  # t
    mu_product: Tensor  # Pi_t (0-d, scalar dtype)
    exp_avg: Tensor  # m_t
    exp_avg_sq: Tensor  # v_t


def init(param: Tensor, grad: Tensor | None, cfg: NAdamConfig) -> NAdamState:
    """Zero moments shaped like ``param``; ``step = 0`` and ``mu_product = 1`` placed as torch
    places them (CPU unless capturable)."""
    zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
    if cfg.capturable:
        mu_product = torch.ones((), dtype=scalar_dtype(), device=param.device)
    else:
        mu_product = torch.tensor(1.0, dtype=scalar_dtype())
    return NAdamState(
        step=step_counter(param, on_param_device=cfg.capturable),
        mu_product=mu_product,
        exp_avg=zeros,
        exp_avg_sq=zeros.clone(),
    )


def step(
    param: Tensor, grad: Tensor, state: NAdamState, cfg: NAdamConfig
) -> tuple[Tensor, NAdamState]:
    """One NAdam step on one parameter. Pure: returns new tensors."""
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    exp_avg, exp_avg_sq = state.exp_avg, state.exp_avg_sq
    complex_param = torch.is_complex(param)
    if complex_param:
        param, g, exp_avg, exp_avg_sq = map(torch.view_as_real, (param, g, exp_avg, exp_avg_sq))
    dtype = param.dtype  # torch updates theta in place: results keep its dtype
    step_t = state.step + 1  # t
    t = step_t.item()
    bias_correction2 = 1 - cfg.beta2**t  # c_2
    if cfg.weight_decay != 0:
        if cfg.decoupled_weight_decay:
            param = param.clone().mul_(1 - cfg.lr * cfg.weight_decay)  # theta (1 - gamma lambda)
        else:
            g = g.add(param, alpha=cfg.weight_decay)  # g_t + lambda theta
    mu = cfg.beta1 * (1.0 - 0.5 * (0.96 ** (t * cfg.momentum_decay)))  # mu_t
    mu_next = cfg.beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * cfg.momentum_decay)))  # mu_{t+1}
    mu_product = (state.mu_product * mu).to(state.mu_product.dtype)  # Pi_t (stored in place)
    exp_avg = exp_avg.lerp(g, 1 - cfg.beta1)  # m_t
    exp_avg_sq = exp_avg_sq.mul(cfg.beta2).addcmul(g, g, value=1 - cfg.beta2)  # v_t
    denom = exp_avg_sq.div(bias_correction2).sqrt().add(cfg.eps)  # d_t
    if cfg.differentiable:
        mu_product_next = mu_product * mu_next  # Pi_t mu_{t+1} (0-d tensor)
        g_step = g * (-cfg.lr * (1.0 - mu) / (1.0 - mu_product))  # -gamma(1-mu_t)/(1-Pi_t) g_t
        m_step = exp_avg * (-cfg.lr * mu_next / (1.0 - mu_product_next))  # ... m_t
        param = param.addcdiv(g_step, denom).to(dtype)  # theta
        param = param.addcdiv(m_step, denom).to(dtype)  # theta_t
    else:
        pi = mu_product.item()  # Pi_t (Python double)
        mu_product_next = pi * mu_next  # Pi_t mu_{t+1} (Python double)
        param = param.addcdiv(g, denom, value=-cfg.lr * (1.0 - mu) / (1.0 - pi))  # theta
        param = param.addcdiv(
            exp_avg, denom, value=(-cfg.lr * mu_next) / (1.0 - mu_product_next)
        )  # theta_t
    if complex_param:
        param, exp_avg, exp_avg_sq = map(torch.view_as_complex, (param, exp_avg, exp_avg_sq))
    return param, NAdamState(step_t, mu_product, exp_avg, exp_avg_sq)


class NAdam(FunctionalOptimizer):
    """``torch.optim.NAdam`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = NAdamConfig.from_group
    state_type = NAdamState
    init_param = init
    step_param = step
    sparse_grad_error = "NAdam does not support sparse gradients"
    capturable_checks_step = False
    capturable_tensors = "params, mu_products and state_steps"

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
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
        if not momentum_decay >= 0.0:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
