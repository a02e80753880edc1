r"""The notes' adaptive-rate family: Adagrad, RMSProp and Adadelta, as the notes write them.

Adagrad and RMSProp add :math:`\epsilon` *inside* the square root (notes 000, 001 and 004;
torch adds it outside), Adadelta has no learning rate and :math:`\epsilon` under both roots;
the conventions are those of :mod:`optimizers.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._notes_validation import checked_defaults, zero_state_init
from optverify.optimizers._shell import FunctionalOptimizer, GroupConfig

__all__ = [
    "Note000Adadelta",
    "Note000Adagrad",
    "Note000RMSprop",
    "Note001RMSprop",
    "Note004Adadelta",
    "Note004Adagrad",
    "Note004RMSprop",
]


# --------------------------------------------------------------------------------------------
# The step Adagrad and RMSProp share once s is updated


def _descend_root_scaled(
    param: Tensor, grad: Tensor, s: Tensor, cfg: AdagradConfig | RMSpropConfig
) -> Tensor:
    r""":math:`\theta - \eta / \sqrt{s+\epsilon}\; g` (:math:`\epsilon` inside the root)."""
    rate = cfg.lr / torch.sqrt(s + cfg.eps_in_sqrt)  # eta / sqrt(s + eps)
    return param - rate * grad  # theta <- theta - rate g


# --------------------------------------------------------------------------------------------
# Adagrad with epsilon inside the square root (notes 000 and 004)


@dataclass(frozen=True)
class AdagradConfig(GroupConfig):
    lr: float  # eta
    eps_in_sqrt: float  # epsilon, added to s under the root


class AdagradState(NamedTuple):
    sum: Tensor  # s: the running sum of g^2 (the same meaning as torch's ``sum``)


adagrad_init = zero_state_init(AdagradState)  # s_0 = 0


def adagrad_step(
    param: Tensor, grad: Tensor, state: AdagradState, cfg: AdagradConfig
) -> tuple[Tensor, AdagradState]:
    r""":math:`s \leftarrow s + g^2,\ \theta \leftarrow \theta - \eta / \sqrt{s+\epsilon}\; g`."""
    s = state.sum + grad * grad  # s <- s + g^2
    return _descend_root_scaled(param, grad, s, cfg), AdagradState(s)


class Note000Adagrad(FunctionalOptimizer):
    r"""Note 000 ``sgd_adagrad`` (``000_4553c4c6d47e08e5.txt`` lines 377-397).

    .. math::

       \begin{aligned}
       s      &\leftarrow s + g^2 \\
       \theta &\leftarrow \theta - \frac{\eta}{\sqrt{s + \epsilon}}\, g,
              \qquad \epsilon = 10^{-10}
       \end{aligned}

    :math:`\epsilon` sits *inside* the root (torch: :math:`\sqrt{s} + \epsilon`). Compared
    (claim ``N000.adagrad.rule``) with ``torch.optim.Adagrad(lr=1e-2)`` (lines 470-481).
    """

    config_from_group = AdagradConfig.from_group
    state_type = AdagradState
    init_param = adagrad_init
    step_param = adagrad_step

    def __init__(self, params: ParamsT, lr: float = 1e-2, eps_in_sqrt: float = 1e-10) -> None:
        super().__init__(params, checked_defaults(lr=lr, eps_in_sqrt=eps_in_sqrt))


class Note004Adagrad(Note000Adagrad):
    r"""Note 004 d2l ``adagrad`` (``004_2b399d6be3e5d837.txt`` lines 830-843, 916-920).

    .. math::

       \begin{aligned}
       s_t &\leftarrow s_{t-1} + g_t \odot g_t \\
       x_t &\leftarrow x_{t-1} - \frac{\eta}{\sqrt{s_t + \epsilon}} \odot g_t,
           \qquad \epsilon = 10^{-6}
       \end{aligned}

    Compared (claim ``N004.adagrad.rule``) with ``torch.optim.Adagrad(lr=0.1)`` (lines 937-943).
    """

    def __init__(self, params: ParamsT, lr: float = 0.1, eps_in_sqrt: float = 1e-6) -> None:
        super().__init__(params, lr=lr, eps_in_sqrt=eps_in_sqrt)


# --------------------------------------------------------------------------------------------
# RMSProp with epsilon inside the square root (notes 000, 001 and 004)


@dataclass(frozen=True)
class RMSpropConfig(GroupConfig):
    lr: float  # eta
    alpha: float  # the moving-average coefficient (gamma in notes 001 and 004)
    eps_in_sqrt: float


class RMSpropState(NamedTuple):
    square_avg: Tensor  # s (the same meaning as torch's ``square_avg``)


rmsprop_init = zero_state_init(RMSpropState)  # s_0 = 0


def rmsprop_step(
    param: Tensor, grad: Tensor, state: RMSpropState, cfg: RMSpropConfig
) -> tuple[Tensor, RMSpropState]:
    r""":math:`s \leftarrow \alpha s + (1-\alpha) g^2`,
    :math:`\theta \leftarrow \theta - \eta/\sqrt{s+\epsilon}\; g`."""
    s = state.square_avg * cfg.alpha + grad * grad * (1 - cfg.alpha)  # s <- a s + (1 - a) g^2
    return _descend_root_scaled(param, grad, s, cfg), RMSpropState(s)


class Note000RMSprop(FunctionalOptimizer):
    r"""Note 000 ``rmsprop`` (``000_4553c4c6d47e08e5.txt`` lines 509-529).

    .. math::

       \begin{aligned}
       s_i    &= \alpha\, s_{i-1} + (1-\alpha)\, g^2 \\
       \theta &\leftarrow \theta - \frac{\eta}{\sqrt{s + \epsilon}}\, g,
              \qquad \epsilon = 10^{-10}
       \end{aligned}

    Compared (claim ``N000.rmsprop.rule``) with ``torch.optim.RMSprop(lr=1e-3, alpha=0.9)``
    (lines 600-614), whose :math:`\epsilon = 10^{-8}` sits outside the root.
    """

    config_from_group = RMSpropConfig.from_group
    state_type = RMSpropState
    init_param = rmsprop_init
    step_param = rmsprop_step

    def __init__(
        self, params: ParamsT, lr: float = 1e-3, alpha: float = 0.9, eps_in_sqrt: float = 1e-10
    ) -> None:
        super().__init__(params, checked_defaults(lr=lr, alpha=alpha, eps_in_sqrt=eps_in_sqrt))


class Note001RMSprop(Note000RMSprop):
    r"""Note 001 ``rmsprop`` (``001_5d5832c955028860.txt`` lines 16-28, 66-73).

    .. math::

       \begin{aligned}
       s_i    &= \gamma\, s_{i-1} + (1-\gamma)\, g^2 \\
       \theta &\leftarrow \theta - \frac{\eta}{\sqrt{s + \epsilon}}\, g,
              \qquad \epsilon = 10^{-10}
       \end{aligned}

    The same rule as note 000's (the note's :math:`\gamma` is the code's ``alpha``). Compared
    (claim ``N001.rmsprop.rule``) with ``torch.optim.RMSprop(lr=1e-3, alpha=0.9)`` (line 209).
    """


class Note004RMSprop(Note000RMSprop):
    r"""Note 004 d2l ``rmsprop`` (``004_2b399d6be3e5d837.txt`` lines 962-975, 1029-1033).

    .. math::

       \begin{aligned}
       s_t &\leftarrow \gamma\, s_{t-1} + (1-\gamma)\, g_t \odot g_t \\
       x_t &\leftarrow x_{t-1} - \frac{\eta}{\sqrt{s_t + \epsilon}} \odot g_t,
           \qquad \epsilon = 10^{-6}
       \end{aligned}

    The note's ``hyperparams['beta']`` (:math:`\gamma`) is torch's ``alpha``. Compared (claim
    ``N004.rmsprop.rule``) with ``torch.optim.RMSprop(lr=0.01, alpha=0.9)`` (lines 1051-1058).
    """

    def __init__(
        self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.9, eps_in_sqrt: float = 1e-6
    ) -> None:
        super().__init__(params, lr=lr, alpha=alpha, eps_in_sqrt=eps_in_sqrt)


# --------------------------------------------------------------------------------------------
# Adadelta (no learning rate; epsilon under both roots)


@dataclass(frozen=True)
class AdadeltaConfig(GroupConfig):
    rho: float
    eps: float  # under both roots, as torch's
    single_root: bool  # note 004: sqrt((delta + eps) / (s + eps)); note 000: a ratio of roots


class AdadeltaState(NamedTuple):
    square_avg: Tensor  # s (torch's ``square_avg``)
    acc_delta: Tensor  # Delta theta (torch's ``acc_delta``)


adadelta_init = zero_state_init(AdadeltaState)  # s_0 = Delta theta_0 = 0


def adadelta_step(
    param: Tensor, grad: Tensor, state: AdadeltaState, cfg: AdadeltaConfig
) -> tuple[Tensor, AdadeltaState]:
    r"""One step of the notes' Adadelta (see :class:`Note000Adadelta`, :class:`Note004Adadelta`)."""
    s = state.square_avg * cfg.rho + grad * grad * (1 - cfg.rho)  # s <- rho s + (1 - rho) g^2
    if cfg.single_root:
        scale = torch.sqrt((state.acc_delta + cfg.eps) / (s + cfg.eps))  # sqrt((D + e)/(s + e))
    else:
        scale = torch.sqrt(state.acc_delta + cfg.eps) / torch.sqrt(s + cfg.eps)  # ratio of roots
    update = scale * grad  # g'
    delta = state.acc_delta * cfg.rho + update * update * (1 - cfg.rho)  # D <- rho D + (1-rho) g'^2
    return param - update, AdadeltaState(s, delta)  # theta <- theta - g'


class Note000Adadelta(FunctionalOptimizer):
    r"""Note 000 ``adadelta`` (``000_4553c4c6d47e08e5.txt`` lines 794-827).

    .. math::

       \begin{aligned}
       s             &= \rho\, s + (1-\rho)\, g^2 \\
       g'            &= \frac{\sqrt{\Delta\theta + \epsilon}}{\sqrt{s + \epsilon}}\, g,
                     \qquad \epsilon = 10^{-6} \\
       \Delta\theta  &= \rho\, \Delta\theta + (1-\rho)\, g'^2 \\
       \theta        &= \theta - g'
       \end{aligned}

    No learning rate (torch's ``lr`` multiplies :math:`g'`; its default is 1). Compared
    (claim ``N000.adadelta.rule``) with ``torch.optim.Adadelta(rho=0.9)`` (lines 902-913).
    """

    config_from_group = AdadeltaConfig.from_group
    state_type = AdadeltaState
    init_param = adadelta_init
    step_param = adadelta_step
    single_root = False

    def __init__(self, params: ParamsT, rho: float = 0.9, eps: float = 1e-6) -> None:
        super().__init__(params, checked_defaults(rho=rho, eps=eps, single_root=self.single_root))


class Note004Adadelta(Note000Adadelta):
    r"""Note 004 d2l ``adadelta`` (``004_2b399d6be3e5d837.txt`` lines 1077-1103, 1120-1126).

    .. math::

       \begin{aligned}
       s_t             &\leftarrow \rho\, s_{t-1} + (1-\rho)\, g_t \odot g_t \\
       g'_t            &\leftarrow \sqrt{\frac{\Delta x_{t-1} + \epsilon}{s_t + \epsilon}}
                          \odot g_t, \qquad \epsilon = 10^{-5} \\
       x_t             &\leftarrow x_{t-1} - g'_t \\
       \Delta x_t      &\leftarrow \rho\, \Delta x_{t-1} + (1-\rho)\, g'_t \odot g'_t
       \end{aligned}

    One root of the ratio (algebraically the ratio of roots). Compared (claim
    ``N004.adadelta.rule``) with ``torch.optim.Adadelta(rho=0.9)`` (lines 1141-1147), whose
    :math:`\epsilon` is :math:`10^{-6}`.
    """

    single_root = True

    def __init__(self, params: ParamsT, rho: float = 0.9, eps: float = 1e-5) -> None:
        super().__init__(params, rho=rho, eps=eps)
