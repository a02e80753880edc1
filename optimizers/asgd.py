r"""ASGD: averaged stochastic gradient descent (Polyak–Juditsky), with L2 weight decay.

Written to agree bit-for-bit with ``torch.optim.ASGD(foreach=False)`` (torch 2.13,
``torch/optim/asgd.py``: constructor 30-61, state 87-123, update 197-274).
Symbols: :math:`\gamma` lr, :math:`\lambda` lambd, :math:`\alpha` alpha, :math:`t_0` t0,
:math:`w` weight_decay, :math:`\eta` eta, :math:`\mu` mu, :math:`\bar\theta` ax,
:math:`t` the step count after the increment (first step 1). Initially
:math:`\eta_0 = \gamma`, :math:`\mu_0 = 1`, :math:`\bar\theta_0 = 0`.
The LaTeX is grouped as the code computes it.

.. math::

   \begin{aligned}
   g_t          &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                     \\
   t            &\leftarrow t + 1                                                           \\
   g_t          &\leftarrow g_t + w\,\theta_{t-1}          && \text{if } w \ne 0             \\
   \theta       &\leftarrow \theta_{t-1}\,(1 - \lambda\,\eta_{t-1})                          \\
   \theta_t     &\leftarrow \theta - \eta_{t-1}\, g_t                                        \\
   \bar\theta_t &\leftarrow \bar\theta_{t-1} + \mu_{t-1}(\theta_t - \bar\theta_{t-1})
                   && \text{if } \mu_{t-1} \ne 1                                              \\
   \bar\theta_t &\leftarrow \theta_t                         && \text{if } \mu_{t-1} = 1     \\
   \eta_t       &\leftarrow \gamma \,/\, (1 + \lambda\gamma t)^{\alpha}                        \\
   \mu_t        &\leftarrow 1 \,/\, \max(1,\; t - t_0)
   \end{aligned}

.. note::
   Quirks of torch that this module reproduces:

   * The step uses :math:`\eta` and :math:`\mu` from the *previous* step; the new values are
     computed after the update, from the *current* group ``lr`` (so :math:`\eta_0` is the
     ``lr`` the state was created with, and a scheduled ``lr`` acts one step late).
   * ``step``, ``eta`` and ``mu`` are 0-d tensors of the scalar dtype (float32 unless the
     default dtype is float64) on the *parameter's* device, even for float64 parameters and
     without ``capturable``. :math:`\eta_{t-1}` enters the update as ``eta.item()``, i.e.
     rounded to float32, and :math:`\eta_t, \mu_t` are computed in Python double and rounded
     to float32 when stored; :math:`\mu` enters the average as a float32 tensor.
     (``load_state_dict`` casts ``eta``/``mu`` to a floating parameter's dtype, as it does
     for every non-``step`` state tensor.)
   * :math:`\mu_t = 1` while :math:`t \le t_0 + 1`, and with :math:`\mu_{t-1} = 1` torch
     *copies* :math:`\theta_t` into :math:`\bar\theta` (which is not bit-equal to the
     average formula with :math:`\mu = 1`); the running average starts at the first step
     :math:`t > t_0 + 2`. :math:`\bar\theta` never feeds back into :math:`\theta`.
   * A zero gradient is not a no-op: the :math:`\lambda`-decay still shrinks :math:`\theta`.
   * Complex parameters are updated as independent real pairs (``torch.view_as_real``).
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

__all__ = ["ASGD", "ASGDConfig", "ASGDState", "init", "step"]


@dataclass(frozen=True)
class ASGDConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    lambd: float  # lambda
    alpha: float  # alpha
    t0: float  # t_0
    weight_decay: float  # w
    maximize: bool


class ASGDState(NamedTuple):
    step: Tensor  # t (0-d, scalar dtype, param device)
    eta: Tensor  # eta_t (0-d, scalar dtype, param device)
    mu: Tensor  # mu_t (0-d, scalar dtype, param device)
    ax: Tensor  # bar theta_t


def init(param: Tensor, grad: Tensor | None, cfg: ASGDConfig) -> ASGDState:
    """``step = 0``, ``eta = lr``, ``mu = 1`` on the parameter's device; ``ax = 0``."""
    return ASGDState(
        step=step_counter(param, on_param_device=True),
        eta=torch.as_tensor(cfg.lr, device=param.device, dtype=scalar_dtype()).detach().clone(),
        mu=torch.ones((), device=param.device, dtype=scalar_dtype()),
        ax=torch.zeros_like(param, memory_format=torch.preserve_format),
    )


def step(
    param: Tensor, grad: Tensor, state: ASGDState, cfg: ASGDConfig
) -> tuple[Tensor, ASGDState]:
    """One ASGD step on one parameter. Pure: returns new tensors."""
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    ax = state.ax
    complex_param = torch.is_complex(param)
    if complex_param:
        g, param, ax = map(torch.view_as_real, (g, param, ax))
    dtype = param.dtype  # torch updates theta and ax in place: results keep their dtype
    step_t = state.step + 1  # t
    if cfg.weight_decay != 0:
        g = g.add(param, alpha=cfg.weight_decay)  # g_t + w theta
    eta_prev = state.eta.item()  # eta_{t-1} (float32-rounded)
    # torch updates theta in place, and its strides pick the kernel (a strided tensor takes
    # the element-by-element loop, whose low-precision rounding differs from the vector
    # loop's): the copy keeps them
    theta = torch.empty_strided(param.size(), param.stride(), dtype=dtype, device=param.device)
    param = theta.copy_(param)
    param.mul_(1 - cfg.lambd * eta_prev)  # theta (1 - lambda eta_{t-1})
    param.add_(g, alpha=-eta_prev)  # theta_t
    if state.mu.item() != 1:
        ax = ax.add(param.sub(ax).mul(state.mu).to(dtype)).to(ax.dtype)  # bar theta_t
    else:
        ax = torch.empty_like(ax).copy_(param)  # bar theta_t = theta_t
    t = step_t.item()
    new_eta = torch.as_tensor(cfg.lr / ((1 + cfg.lambd * cfg.lr * t) ** cfg.alpha))  # eta_t
    eta = torch.empty_like(state.eta).copy_(new_eta)  # stored in eta's dtype and device
    new_mu = torch.as_tensor(1 / max(1, t - cfg.t0))  # mu_t
    mu = torch.empty_like(state.mu).copy_(new_mu)  # stored in mu's dtype and device
    if complex_param:
        param, ax = map(torch.view_as_complex, (param, ax))
    return param, ASGDState(step_t, eta, mu, ax)


class ASGD(FunctionalOptimizer):
    """``torch.optim.ASGD`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = ASGDConfig.from_group
    state_type = ASGDState
    init_param = init
    step_param = step
    sparse_grad_error = "ASGD does not support sparse gradients"
    capturable_checks_step = False
    capturable_tensors = "params, mus, etas, and state_steps"

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "lambd": lambd,
            "alpha": alpha,
            "t0": t0,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
