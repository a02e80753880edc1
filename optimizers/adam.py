r"""Adam and AdamW (AMSGrad, coupled or decoupled weight decay, maximize).

Written to agree bit-for-bit with ``torch.optim.Adam(foreach=False)`` and
``torch.optim.AdamW(foreach=False)`` (torch 2.13, ``torch/optim/adam.py:347-550``).
Symbols: :math:`\gamma` lr, :math:`\beta_1, \beta_2` betas, :math:`\epsilon` eps,
:math:`\lambda` weight_decay, :math:`t` the step count after the increment (first step 1).
The LaTeX is grouped as the code computes it.

.. math::

   \begin{aligned}
   t        &\leftarrow t + 1                                                              \\
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                         \\
   \theta   &\leftarrow \theta_{t-1}(1 - \gamma\lambda)  && \text{decoupled, } \lambda\ne0 \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}       && \text{coupled, } \lambda\ne0   \\
   m_t      &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)
              = m_{t-1} + (1-\beta_1)(g_t - m_{t-1})                                          \\
   v_t      &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2                                  \\
   v^{\max}_t &\leftarrow \max(v^{\max}_{t-1}, v_t)         && \text{if amsgrad}              \\
   d_t      &\leftarrow \sqrt{v_t} \,/\, \sqrt{1-\beta_2^t} + \epsilon
              \quad (v^{\max}_t \text{ in place of } v_t \text{ if amsgrad})                 \\
   \theta_t &\leftarrow \theta - \frac{\gamma}{1-\beta_1^t}\; m_t / d_t
   \end{aligned}

.. note::
   :math:`\epsilon` sits *outside* the square root and is added *after* the bias correction
   of :math:`v`; AMSGrad takes the maximum of the *uncorrected* :math:`v`. The bias
   corrections are computed in Python double from ``step.item()``, with ``step`` kept as a
   float32 tensor, as torch does (exact up to :math:`2^{24}` steps). Complex parameters are
   updated as independent real pairs (``torch.view_as_real``), after the weight decay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._shell import (
    FunctionalOptimizer,
    GroupConfig,
    check_fused_flags,
    group_key,
    step_counter,
    to_scalar,
)

__all__ = ["Adam", "AdamConfig", "AdamState", "AdamW", "bias_corrections", "init", "step"]


def _capturable_or_fused(group: Mapping[str, Any]) -> bool:
    return bool(group["capturable"] or group["fused"])


@dataclass(frozen=True)
class AdamConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    beta1: float | Tensor = field(metadata=group_key("betas", 0, convert=to_scalar))
    beta2: float | Tensor = field(metadata=group_key("betas", 1, convert=to_scalar))
    eps: float  # epsilon
    weight_decay: float  # lambda
    amsgrad: bool
    maximize: bool
    decoupled_weight_decay: bool
    # capturable or fused: where torch keeps ``step``
    step_on_param_device: bool = field(
        default=False, metadata=group_key(compute=_capturable_or_fused)
    )
    fused: bool = field(default=False, metadata=group_key(convert=bool))


class AdamState(NamedTuple):
    step: Tensor  # t
    exp_avg: Tensor  # m_t
    exp_avg_sq: Tensor  # v_t
    max_exp_avg_sq: Tensor | None = None  # v^max_t (amsgrad only)


def init(param: Tensor, grad: Tensor | None, cfg: AdamConfig) -> AdamState:
    """Zero moments shaped like ``param``; ``step`` placed as torch places it."""
    zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
    return AdamState(
        step=step_counter(param, on_param_device=cfg.step_on_param_device, fused=cfg.fused),
        exp_avg=zeros,
        exp_avg_sq=zeros.clone(),
        max_exp_avg_sq=zeros.clone() if cfg.amsgrad else None,
    )


def bias_corrections(t: float, cfg: AdamConfig) -> tuple[Any, Any]:
    """``(step_size, bias_correction2_sqrt)`` at step ``t`` (after the increment): the Python
    numbers (tensors, for tensor hyperparameters) that scale the step."""
    bias_correction1 = 1 - cfg.beta1**t
    bias_correction2_sqrt = (1 - cfg.beta2**t) ** 0.5
    step_size = cfg.lr / bias_correction1  # gamma / (1 - beta1^t)
    return step_size, bias_correction2_sqrt


def step(
    param: Tensor, grad: Tensor, state: AdamState, cfg: AdamConfig
) -> tuple[Tensor, AdamState]:
    """One Adam step on one parameter. Pure: returns new tensors."""
    step_t = state.step + 1  # t
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    if cfg.weight_decay != 0:
        if cfg.decoupled_weight_decay:
            # in place on a copy: a 0-d param times a tensor lr keeps the param's dtype
            param = param.clone().mul_(1 - cfg.lr * cfg.weight_decay)  # theta (1 - gamma lambda)
        else:
            g = g.add(param, alpha=cfg.weight_decay)  # g_t + lambda theta
    complex_param = torch.is_complex(param)
    exp_avg, exp_avg_sq, max_sq = state.exp_avg, state.exp_avg_sq, state.max_exp_avg_sq
    if complex_param:
        g, exp_avg, exp_avg_sq = map(torch.view_as_real, (g, exp_avg, exp_avg_sq))
        max_sq = torch.view_as_real(max_sq) if max_sq is not None else None
        param = torch.view_as_real(param)
    beta1 = cfg.beta1
    if isinstance(beta1, Tensor):
        beta1 = beta1.to(device=param.device, dtype=param.dtype)
    exp_avg = exp_avg.lerp(g, 1 - beta1)  # m_t
    exp_avg_sq = exp_avg_sq.clone().mul_(cfg.beta2).addcmul_(g, g, value=1 - cfg.beta2)  # type: ignore[arg-type]  # v_t
    step_size, bias_correction2_sqrt = bias_corrections(step_t.item(), cfg)  # gamma / c_1, sqrt c_2
    if max_sq is not None:
        max_sq = torch.maximum(max_sq, exp_avg_sq)  # v^max_t
        denom = (max_sq.sqrt() / bias_correction2_sqrt).add(cfg.eps)  # d_t
    else:
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add(cfg.eps)  # d_t
    param = param.addcdiv(exp_avg, denom, value=-step_size)  # theta_t
    if complex_param:
        param, exp_avg, exp_avg_sq = map(torch.view_as_complex, (param, exp_avg, exp_avg_sq))
        max_sq = torch.view_as_complex(max_sq) if max_sq is not None else None
    return param, AdamState(step_t, exp_avg, exp_avg_sq, max_sq)


def _validated_betas(
    lr: float | Tensor,
    betas: tuple[float | Tensor, float | Tensor],
    eps: float,
    weight_decay: float,
    foreach: bool | None,
    capturable: bool,
) -> tuple[Any, Any]:
    """torch's Adam constructor checks, in torch's order (torch/optim/adam.py:51-87); returns
    the betas, a 1-element tensor beta as a 0-d one (as torch stores them)."""
    if isinstance(lr, Tensor):
        if foreach and not capturable:
            raise ValueError(
                "lr as a Tensor is not supported for capturable=False and foreach=True"
            )
        if lr.numel() != 1:
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
    if not (
        (isinstance(betas[0], float) and isinstance(betas[1], float))
        or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
    ):
        raise ValueError("betas must be either both floats or both Tensors")
    for index, beta in enumerate(betas):
        if isinstance(beta, Tensor):
            if not capturable and foreach:
                raise ValueError(
                    f"betas[{index}] as a Tensor is not supported for capturable=False and "
                    "foreach=True"
                )
            if beta.numel() != 1:
                raise ValueError(f"Tensor betas[{index}] must be 1-element")
    return to_scalar(betas[0]), to_scalar(betas[1])


class Adam(FunctionalOptimizer):
    """``torch.optim.Adam`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = AdamConfig.from_group
    state_type = AdamState
    init_param = init
    step_param = step
    sparse_grad_error = "Adam does not support sparse gradients, please consider SparseAdam instead"

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        betas = _validated_betas(lr, betas, eps, weight_decay, foreach, capturable)
        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        check_fused_flags(fused, foreach, differentiable)

    def _check_param(self, p: Tensor, group: dict[str, Any]) -> None:
        super()._check_param(p, group)
        if group["foreach"] and torch.is_tensor(group["lr"]) and not group["capturable"]:
            raise RuntimeError(
                "lr as a Tensor is not supported for capturable=False and foreach=True"
            )


class AdamW(Adam):
    r"""``torch.optim.AdamW``: Adam with decoupled weight decay,
    :math:`\theta \leftarrow \theta(1-\gamma\lambda)` before the moments (default
    :math:`\lambda = 10^{-2}`)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
