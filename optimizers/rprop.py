r"""Rprop: resilient backpropagation (the iRprop\ :sup:`-` variant), with maximize.

Written to agree bit-for-bit with ``torch.optim.Rprop(foreach=False)`` (torch 2.13,
``torch/optim/rprop.py``: constructor 31-59, state 80-116, update 223-291).
Symbols, all elementwise: :math:`\eta_-, \eta_+` etas, :math:`\Gamma_{\min}, \Gamma_{\max}`
step_sizes, :math:`\Delta` step_size (initially :math:`\gamma` = lr everywhere),
:math:`p` prev (initially 0), :math:`t` the step count after the increment.
The LaTeX is grouped as the code computes it; the three factor rules are applied in this
order, each to the result of the one before.

.. math::

   \begin{aligned}
   g_t        &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                     \\
   t          &\leftarrow t + 1                                                           \\
   s_t        &\leftarrow \operatorname{sign}(g_t\, p_{t-1})                              \\
   f_t        &\leftarrow \eta_+ \text{ where } s_t > 0 \text{, else } s_t                 \\
   f_t        &\leftarrow \eta_- \text{ where } f_t < 0 \text{, else } f_t                 \\
   f_t        &\leftarrow 1 \text{ where } f_t = 0 \text{, else } f_t                      \\
   \Delta_t   &\leftarrow \operatorname{clamp}(\Delta_{t-1} f_t, \Gamma_{\min}, \Gamma_{\max}) \\
   g'_t       &\leftarrow 0 \text{ where } f_t = \eta_- \text{, else } g_t                 \\
   \theta_t   &\leftarrow \theta_{t-1} - \operatorname{sign}(g'_t)\, \Delta_t              \\
   p_t        &\leftarrow g'_t
   \end{aligned}

.. note::
   Quirks of torch that this module reproduces:

   * Exact zeros: if :math:`g_t p_{t-1} = 0` (the first step, a zero gradient, or a step
     after a sign change, whose stored :math:`p` was zeroed) the step size is kept
     (:math:`f = 1`) and :math:`\theta` moves by :math:`\operatorname{sign}(g_t)\Delta_t`,
     i.e. not at all where :math:`g_t = 0`. After a sign change :math:`\theta` does not move
     and :math:`p` is set to 0, so the next step keeps :math:`\Delta` (iRprop\ :sup:`-`).
   * NaN: :math:`\operatorname{sign}(\text{NaN}) = \text{NaN}` matches none of the three
     rules, so :math:`\Delta` and :math:`\theta` become NaN there, and NaN is stored in
     :math:`p`.
   * The rules compare against :math:`\eta_\pm` rounded to the parameter's dtype; a changed
     ``etas`` in a param group is not re-validated (e.g. :math:`\eta_- = 1` would also zero
     :math:`g'` where :math:`s_t = 0`). ``clamp`` with :math:`\Gamma_{\min} > \Gamma_{\max}`
     gives :math:`\Gamma_{\max}`.
   * ``lr`` only seeds :math:`\Delta` when the state is created; changing it later (e.g. a
     scheduler) has no effect. :math:`\Delta` is ``full_like`` the *gradient*.
   * There is no weight decay. ``step`` is counted but never used.
   * Complex parameters are updated as independent real pairs (``torch.view_as_real``);
     :math:`\Delta` starts at :math:`\gamma + \gamma i`.
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

__all__ = ["Rprop", "RpropConfig", "RpropState", "init", "step"]


@dataclass(frozen=True)
class RpropConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma (seeds Delta only)
    etaminus: float = field(metadata=group_key("etas", 0))  # eta_-
    etaplus: float = field(metadata=group_key("etas", 1))  # eta_+
    step_size_min: float = field(metadata=group_key("step_sizes", 0))  # Gamma_min
    step_size_max: float = field(metadata=group_key("step_sizes", 1))  # Gamma_max
    maximize: bool
    capturable: bool = field(
        default=False, metadata=group_key(convert=bool)
    )  # where torch keeps ``step``


class RpropState(NamedTuple):
    step: Tensor  # t
    prev: Tensor  # p_t
    step_size: Tensor  # Delta_t


def init(param: Tensor, grad: Tensor | None, cfg: RpropConfig) -> RpropState:
    """``prev = 0``; ``step_size = lr`` (``lr + lr i`` for complex) like the gradient.

    torch fills ``step_size`` with ``full_like(grad, ...)``, so it takes ``grad``'s layout
    when there is one (its dtype and shape are the parameter's)."""
    like = grad if grad is not None else param
    lr = cfg.lr.item() if isinstance(cfg.lr, Tensor) else cfg.lr  # what full_like reads
    if param.dtype.is_complex:
        step_size = torch.full_like(like, complex(lr, lr))  # Delta_0 = gamma + gamma i
    else:
        step_size = torch.full_like(like, lr)  # Delta_0 = gamma
    return RpropState(
        step=step_counter(param, on_param_device=cfg.capturable),
        prev=torch.zeros_like(param, memory_format=torch.preserve_format),
        step_size=step_size,
    )


def step(
    param: Tensor, grad: Tensor, state: RpropState, cfg: RpropConfig
) -> tuple[Tensor, RpropState]:
    """One Rprop step on one parameter. Pure: returns new tensors."""
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    prev, step_size = state.prev, state.step_size
    step_t = state.step + 1  # t
    complex_param = torch.is_complex(param)
    if complex_param:
        g, prev, param, step_size = map(torch.view_as_real, (g, prev, param, step_size))
    sign = g.mul(prev).sign()  # s_t
    factor = sign.masked_fill(sign.gt(0), cfg.etaplus)  # f_t: eta_+ where s_t > 0
    factor = factor.masked_fill(factor.lt(0), cfg.etaminus)  # f_t: eta_- where < 0
    factor = factor.masked_fill(factor.eq(0), 1)  # f_t: 1 where = 0
    step_size = step_size.mul(factor).clamp(cfg.step_size_min, cfg.step_size_max)  # Delta_t
    g = g.masked_fill(factor.eq(cfg.etaminus), 0)  # g'_t
    param = param.addcmul(g.sign(), step_size, value=-1)  # theta_t
    prev = torch.empty_like(prev).copy_(g)  # p_t = g'_t
    if complex_param:
        param, prev, step_size = map(torch.view_as_complex, (param, prev, step_size))
    return param, RpropState(step_t, prev, step_size)


class Rprop(FunctionalOptimizer):
    """``torch.optim.Rprop`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = RpropConfig.from_group
    state_type = RpropState
    init_param = init
    step_param = step
    sparse_grad_error = "Rprop does not support sparse gradients"
    capturable_checks_step = False

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        defaults = {
            "lr": lr,
            "etas": etas,
            "step_sizes": step_sizes,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
