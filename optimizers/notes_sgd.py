r"""The notes' SGD family: plain SGD and momentum, as the notes write them.

Note 000's ``sgd_update`` and ``sgd_momentum`` (the learning rate *inside* the velocity, as
note 004's d2l ``sgd_momentum`` too) and note 003's account of PyTorch's own momentum; the
conventions are those of :mod:`optimizers.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._notes_validation import checked_defaults, zero_state_init
from optverify.optimizers._shell import FunctionalOptimizer, GroupConfig

__all__ = [
    "Note000Momentum",
    "Note000SGD",
    "Note003TorchMomentum",
    "Note004Momentum",
]


# --------------------------------------------------------------------------------------------
# Plain SGD (note 000, ``sgd_update``)


@dataclass(frozen=True)
class SGDConfig(GroupConfig):
    lr: float  # eta


class SGDState(NamedTuple):
    pass


def sgd_init(param: Tensor, grad: Tensor | None, cfg: SGDConfig) -> SGDState:
    return SGDState()


def sgd_step(
    param: Tensor, grad: Tensor, state: SGDState, cfg: SGDConfig
) -> tuple[Tensor, SGDState]:
    r""":math:`\theta \leftarrow \theta - \eta\, g`."""
    return param - grad * cfg.lr, state  # theta - eta g


class Note000SGD(FunctionalOptimizer):
    r"""Note 000 ``sgd_update`` (``000_4553c4c6d47e08e5.txt`` lines 30-40).

    .. math::

       \theta_{i+1} = \theta_i - \eta\, g

    Compared (claim ``N000.sgd.rule``) with ``torch.optim.SGD(params, lr)`` (lines 180-189).
    """

    config_from_group = SGDConfig.from_group
    state_type = SGDState
    init_param = sgd_init
    step_param = sgd_step

    def __init__(self, params: ParamsT, lr: float = 1e-2) -> None:
        super().__init__(params, checked_defaults(lr=lr))


# --------------------------------------------------------------------------------------------
# The constructor of the momentum rules (notes 000, 003 and 004)


class _MomentumOptimizer(FunctionalOptimizer):
    """``lr`` and ``momentum``, checked as ``torch.optim.SGD`` checks them; the core is the
    subclass's."""

    def __init__(self, params: ParamsT, lr: float = 1e-2, momentum: float = 0.9) -> None:
        super().__init__(params, checked_defaults(lr=lr, momentum=momentum))


# --------------------------------------------------------------------------------------------
# Momentum with the learning rate inside the velocity (notes 000 and 004)


@dataclass(frozen=True)
class VelocityConfig(GroupConfig):
    lr: float  # eta
    momentum: float  # gamma (note 000), beta (note 004)


class VelocityState(NamedTuple):
    v: Tensor  # the notes' velocity, which holds eta (torch's momentum_buffer does not)


velocity_init = zero_state_init(VelocityState)  # v_0 = 0


def velocity_step(
    param: Tensor, grad: Tensor, state: VelocityState, cfg: VelocityConfig
) -> tuple[Tensor, VelocityState]:
    r""":math:`v \leftarrow \gamma v + \eta g,\ \theta \leftarrow \theta - v`."""
    v = state.v * cfg.momentum + grad * cfg.lr  # v_i = gamma v_{i-1} + eta g
    return param - v, VelocityState(v)  # theta_i = theta_{i-1} - v_i


class Note000Momentum(_MomentumOptimizer):
    r"""Note 000 ``sgd_momentum`` (``000_4553c4c6d47e08e5.txt`` lines 225-231, 262-266).

    .. math::

       \begin{aligned}
       v_i      &= \gamma\, v_{i-1} + \eta\, g \\
       \theta_i &= \theta_{i-1} - v_i
       \end{aligned}

    with :math:`v_0 = 0`; the learning rate sits *inside* the velocity. Compared (claim
    ``N000.mom.rule``) with ``torch.optim.SGD(lr=1e-2, momentum=0.9)`` (lines 330-341).
    """

    config_from_group = VelocityConfig.from_group
    state_type = VelocityState
    init_param = velocity_init
    step_param = velocity_step


class Note004Momentum(Note000Momentum):
    r"""Note 004 d2l ``sgd_momentum`` (``004_2b399d6be3e5d837.txt`` lines 594-599, 741-745).

    .. math::

       \begin{aligned}
       m_t &\leftarrow \beta\, m_{t-1} + \eta\, g_t \\
       x_t &\leftarrow x_{t-1} - m_t
       \end{aligned}

    The same rule as note 000's; defaults are the values the notes pass to
    ``torch.optim.SGD`` beside it (``{'lr': 0.004, 'momentum': 0.9}``, lines 781-798).
    """

    def __init__(self, params: ParamsT, lr: float = 4e-3, momentum: float = 0.9) -> None:
        super().__init__(params, lr=lr, momentum=momentum)


# --------------------------------------------------------------------------------------------
# PyTorch's momentum as note 003 writes it


@dataclass(frozen=True)
class TorchMomentumConfig(GroupConfig):
    lr: float
    momentum: float  # m


class TorchMomentumState(NamedTuple):
    momentum_buffer: Tensor  # v (no learning rate inside: the same meaning as torch's)


torch_momentum_init = zero_state_init(TorchMomentumState)  # v_0 = 0


def torch_momentum_step(
    param: Tensor, grad: Tensor, state: TorchMomentumState, cfg: TorchMomentumConfig
) -> tuple[Tensor, TorchMomentumState]:
    r""":math:`v \leftarrow m v + g,\ w \leftarrow w - \mathrm{lr}\, v`."""
    v = state.momentum_buffer * cfg.momentum + grad  # v_i = m v_{i-1} + g(w_i)
    return param - v * cfg.lr, TorchMomentumState(v)  # w_{i+1} = w_i - lr v_i


class Note003TorchMomentum(_MomentumOptimizer):
    r"""Note 003's account of PyTorch's momentum (``003_0f0b2f05897dc972.txt`` lines 282-296).

    .. math::

       \begin{aligned}
       v_i     &= m\, v_{i-1} + g(w_i) \\
       w_{i+1} &= w_i - \mathrm{lr}\, v_i
       \end{aligned}

    with :math:`v_0 = 0` and no :math:`(1-m)` factor. Compared (claim
    ``N003.torch.momentum``) with ``torch.optim.SGD(lr, momentum=m)``.
    """

    config_from_group = TorchMomentumConfig.from_group
    state_type = TorchMomentumState
    init_param = torch_momentum_init
    step_param = torch_momentum_step
