r"""The notes' Adam: note 000's (:math:`\epsilon` inside the root) and note 004's (outside).

Both count the step :math:`t` from 1 and bias-correct both moments; the conventions are those
of :mod:`optimizers.notes`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._notes_validation import checked_defaults, zeros_like_param
from optverify.optimizers._shell import FunctionalOptimizer, GroupConfig, group_key

__all__ = ["Note000Adam", "Note004Adam"]


# --------------------------------------------------------------------------------------------
# Adam (note 000: epsilon inside the root; note 004: outside, after the bias correction)


def _adam_eps(group: Mapping[str, Any]) -> float:
    eps: float = group["eps_in_sqrt"] if "eps_in_sqrt" in group else group["eps"]
    return eps


def _eps_inside(group: Mapping[str, Any]) -> bool:
    return "eps_in_sqrt" in group


@dataclass(frozen=True)
class AdamConfig(GroupConfig):
    lr: float  # eta
    beta1: float = field(metadata=group_key("betas", 0))
    beta2: float = field(metadata=group_key("betas", 1))
    eps: float = field(metadata=group_key(compute=_adam_eps))  # epsilon
    # note 000: sqrt(s_hat + eps); note 004: sqrt(s_hat) + eps
    eps_inside: bool = field(metadata=group_key(compute=_eps_inside))


class AdamState(NamedTuple):
    t: int  # the notes' step count: 1 on the first step
    exp_avg: Tensor  # v (note 000) / m (note 004): the same meaning as torch's ``exp_avg``
    exp_avg_sq: Tensor  # s (note 000) / v (note 004): torch's ``exp_avg_sq``


def adam_init(param: Tensor, grad: Tensor | None, cfg: AdamConfig) -> AdamState:
    return AdamState(0, zeros_like_param(param), zeros_like_param(param))


def adam_step(
    param: Tensor, grad: Tensor, state: AdamState, cfg: AdamConfig
) -> tuple[Tensor, AdamState]:
    r"""One step of the notes' Adam (see :class:`Note000Adam` and :class:`Note004Adam`)."""
    t = state.t + 1  # t counted from 1
    m = state.exp_avg * cfg.beta1 + grad * (1 - cfg.beta1)  # v <- b1 v + (1 - b1) g
    s = state.exp_avg_sq * cfg.beta2 + grad * grad * (1 - cfg.beta2)  # s <- b2 s + (1 - b2) g^2
    m_hat = m / (1 - cfg.beta1**t)  # v_hat = v / (1 - b1^t)
    s_hat = s / (1 - cfg.beta2**t)  # s_hat = s / (1 - b2^t)
    # d = sqrt(s_hat + eps) (note 000) or sqrt(s_hat) + eps (note 004)
    denom = torch.sqrt(s_hat + cfg.eps) if cfg.eps_inside else torch.sqrt(s_hat) + cfg.eps
    return param - cfg.lr * m_hat / denom, AdamState(t, m, s)  # theta <- theta - eta v_hat / d


class _NotesAdam(FunctionalOptimizer):
    """The core both notes' Adams run; each subclass keeps its own constructor."""

    config_from_group = AdamConfig.from_group
    state_type = AdamState
    init_param = adam_init
    step_param = adam_step


class Note000Adam(_NotesAdam):
    r"""Note 000 ``adam`` (``000_4553c4c6d47e08e5.txt`` lines 641-677, 718-736).

    .. math::

       \begin{aligned}
       t       &\leftarrow t + 1 \quad (t = 1 \text{ on the first step}) \\
       v       &= \beta_1 v + (1-\beta_1)\, g \\
       s       &= \beta_2 s + (1-\beta_2)\, g^2 \\
       \hat v  &= v / (1-\beta_1^t) \\
       \hat s  &= s / (1-\beta_2^t) \\
       \theta  &\leftarrow \theta - \eta\, \hat v \,/\, \sqrt{\hat s + \epsilon},
               \qquad \epsilon = 10^{-8}
       \end{aligned}

    :math:`\epsilon` sits *inside* the root, after the bias correction (torch:
    :math:`\sqrt{\hat s} + \epsilon`). Compared (claim ``N000.adam.rule``) with
    ``torch.optim.Adam(lr=1e-3)`` (lines 757-768).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps_in_sqrt: float = 1e-8,
    ) -> None:
        super().__init__(params, checked_defaults(lr=lr, betas=betas, eps_in_sqrt=eps_in_sqrt))


class Note004Adam(_NotesAdam):
    r"""Note 004 d2l ``adam`` (``004_2b399d6be3e5d837.txt`` lines 1166-1208, 1237-1245).

    .. math::

       \begin{aligned}
       t        &\leftarrow t + 1 \quad (t = 1 \text{ on the first step}) \\
       m_t      &\leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
       v_t      &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
       \hat m_t &\leftarrow m_t / (1-\beta_1^t) \\
       \hat v_t &\leftarrow v_t / (1-\beta_2^t) \\
       x_t      &\leftarrow x_{t-1} - \eta\, \hat m_t \,/\, (\sqrt{\hat v_t} + \epsilon),
                \qquad \epsilon = 10^{-6}
       \end{aligned}

    :math:`\epsilon` sits where torch puts it (outside the root, after the bias correction),
    so the hyperparameter is ``eps``; the code uses :math:`10^{-6}` (the text says
    :math:`10^{-8}`, line 1204). Compared (claim ``N004.adam.rule``) with
    ``torch.optim.Adam(lr=0.01)`` (lines 1260-1265).
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
    ) -> None:
        super().__init__(params, checked_defaults(lr=lr, betas=betas, eps=eps))
