r"""The notes' own update rules, as optimiser classes (the *subjects* of the D claims).

Each class transcribes one from-scratch function of the notes (``../shared/notes/``) into a
pure functional core (a frozen config, a ``NamedTuple`` state, ``init`` and ``step``) behind
the thin :class:`~optimizers._shell.FunctionalOptimizer` shell, exactly as the notes compute
it: their :math:`\epsilon` value and where it sits, how the learning rate enters, and how the
step :math:`t` is counted. They are expected to differ from ``torch.optim`` where the notes
differ; ``analytic/differential.py`` measures where and by how much.

Conventions.

* Hyperparameters carry the name of the ``torch.optim`` class the notes present as the
  built-in equivalent *where the meaning matches* (``lr``, ``momentum``, ``alpha``, ``rho``,
  ``betas``, and ``eps`` where :math:`\epsilon` sits where torch puts it). An
  :math:`\epsilon` *inside* the square root (torch adds it outside) is named ``eps_in_sqrt``,
  so that a differential check never passes one value to two different roles.
* State keys carry torch's name where the tensor means the same thing (``sum``,
  ``square_avg``, ``exp_avg``, ``exp_avg_sq``, ``acc_delta``, ``momentum_buffer``), and the
  notes' own name otherwise (``v``: a velocity that holds the learning rate; ``t``: the notes'
  integer step count, a Python ``int``).
* The notes keep one global ``t`` per call and crash on a parameter without a gradient
  (they read ``param.grad.data``); here ``t`` is per parameter and parameters without a
  gradient are skipped, which is the same count whenever every parameter has a gradient at
  every step, the only case the notes' code runs.

Defaults are the values the notes use where they compare against torch (e.g. note 000 trains
``rmsprop(..., 1e-3, 0.9)`` beside ``torch.optim.RMSprop(lr=1e-3, alpha=0.9)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._shell import FunctionalOptimizer, GroupConfig, group_key

__all__ = [
    "NOTES_CLASSES",
    "Note000Adadelta",
    "Note000Adagrad",
    "Note000Adam",
    "Note000Momentum",
    "Note000RMSprop",
    "Note000SGD",
    "Note001RMSprop",
    "Note003TorchMomentum",
    "Note004Adadelta",
    "Note004Adagrad",
    "Note004Adam",
    "Note004Momentum",
    "Note004RMSprop",
]


def _check_lr(lr: float) -> None:
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_coefficient(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid {name} value: {value}")


def _check_eps(eps: float) -> None:
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")


def _zeros(param: Tensor) -> Tensor:
    return torch.zeros_like(param, memory_format=torch.preserve_format)


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
        _check_lr(lr)
        super().__init__(params, {"lr": lr})


# --------------------------------------------------------------------------------------------
# Momentum with the learning rate inside the velocity (notes 000 and 004)


@dataclass(frozen=True)
class VelocityConfig(GroupConfig):
    lr: float  # eta
    momentum: float  # gamma (note 000), beta (note 004)


class VelocityState(NamedTuple):
    v: Tensor  # the notes' velocity, which holds eta (torch's momentum_buffer does not)


def velocity_init(param: Tensor, grad: Tensor | None, cfg: VelocityConfig) -> VelocityState:
    return VelocityState(_zeros(param))  # v_0 = 0


def velocity_step(
    param: Tensor, grad: Tensor, state: VelocityState, cfg: VelocityConfig
) -> tuple[Tensor, VelocityState]:
    r""":math:`v \leftarrow \gamma v + \eta g,\ \theta \leftarrow \theta - v`."""
    v = state.v * cfg.momentum + grad * cfg.lr  # v_i = gamma v_{i-1} + eta g
    return param - v, VelocityState(v)  # theta_i = theta_{i-1} - v_i


class Note000Momentum(FunctionalOptimizer):
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

    def __init__(self, params: ParamsT, lr: float = 1e-2, momentum: float = 0.9) -> None:
        _check_lr(lr)
        _check_coefficient("momentum", momentum)
        super().__init__(params, {"lr": lr, "momentum": momentum})


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


def torch_momentum_init(
    param: Tensor, grad: Tensor | None, cfg: TorchMomentumConfig
) -> TorchMomentumState:
    return TorchMomentumState(_zeros(param))


def torch_momentum_step(
    param: Tensor, grad: Tensor, state: TorchMomentumState, cfg: TorchMomentumConfig
) -> tuple[Tensor, TorchMomentumState]:
    r""":math:`v \leftarrow m v + g,\ w \leftarrow w - \mathrm{lr}\, v`."""
    v = state.momentum_buffer * cfg.momentum + grad  # v_i = m v_{i-1} + g(w_i)
    return param - v * cfg.lr, TorchMomentumState(v)  # w_{i+1} = w_i - lr v_i


class Note003TorchMomentum(FunctionalOptimizer):
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

    def __init__(self, params: ParamsT, lr: float = 1e-2, momentum: float = 0.9) -> None:
        _check_lr(lr)
        _check_coefficient("momentum", momentum)
        super().__init__(params, {"lr": lr, "momentum": momentum})


# --------------------------------------------------------------------------------------------
# Adagrad with epsilon inside the square root (notes 000 and 004)


@dataclass(frozen=True)
class AdagradConfig(GroupConfig):
    lr: float  # eta
    eps_in_sqrt: float  # epsilon, added to s under the root


class AdagradState(NamedTuple):
    sum: Tensor  # s: the running sum of g^2 (the same meaning as torch's ``sum``)


def adagrad_init(param: Tensor, grad: Tensor | None, cfg: AdagradConfig) -> AdagradState:
    return AdagradState(_zeros(param))  # s_0 = 0


def adagrad_step(
    param: Tensor, grad: Tensor, state: AdagradState, cfg: AdagradConfig
) -> tuple[Tensor, AdagradState]:
    r""":math:`s \leftarrow s + g^2,\ \theta \leftarrow \theta - \eta / \sqrt{s+\epsilon}\; g`."""
    s = state.sum + grad * grad  # s <- s + g^2
    rate = cfg.lr / torch.sqrt(s + cfg.eps_in_sqrt)  # eta / sqrt(s + eps)
    return param - rate * grad, AdagradState(s)  # theta <- theta - rate g


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
        _check_lr(lr)
        _check_eps(eps_in_sqrt)
        super().__init__(params, {"lr": lr, "eps_in_sqrt": eps_in_sqrt})


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


def rmsprop_init(param: Tensor, grad: Tensor | None, cfg: RMSpropConfig) -> RMSpropState:
    return RMSpropState(_zeros(param))  # s_0 = 0


def rmsprop_step(
    param: Tensor, grad: Tensor, state: RMSpropState, cfg: RMSpropConfig
) -> tuple[Tensor, RMSpropState]:
    r""":math:`s \leftarrow \alpha s + (1-\alpha) g^2`,
    :math:`\theta \leftarrow \theta - \eta/\sqrt{s+\epsilon}\; g`."""
    s = state.square_avg * cfg.alpha + grad * grad * (1 - cfg.alpha)  # s <- a s + (1 - a) g^2
    rate = cfg.lr / torch.sqrt(s + cfg.eps_in_sqrt)  # eta / sqrt(s + eps)
    return param - rate * grad, RMSpropState(s)  # theta <- theta - rate g


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
        _check_lr(lr)
        _check_coefficient("alpha", alpha)
        _check_eps(eps_in_sqrt)
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps_in_sqrt": eps_in_sqrt})


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
    return AdamState(0, _zeros(param), _zeros(param))


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


def _check_betas(betas: tuple[float, float]) -> None:
    for index, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta}")


class Note000Adam(FunctionalOptimizer):
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

    config_from_group = AdamConfig.from_group
    state_type = AdamState
    init_param = adam_init
    step_param = adam_step

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps_in_sqrt: float = 1e-8,
    ) -> None:
        _check_lr(lr)
        _check_betas(betas)
        _check_eps(eps_in_sqrt)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps_in_sqrt": eps_in_sqrt})


class Note004Adam(FunctionalOptimizer):
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

    config_from_group = AdamConfig.from_group
    state_type = AdamState
    init_param = adam_init
    step_param = adam_step

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
    ) -> None:
        _check_lr(lr)
        _check_betas(betas)
        _check_eps(eps)
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})


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


def adadelta_init(param: Tensor, grad: Tensor | None, cfg: AdadeltaConfig) -> AdadeltaState:
    return AdadeltaState(_zeros(param), _zeros(param))


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
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _check_eps(eps)
        super().__init__(params, {"rho": rho, "eps": eps, "single_root": self.single_root})


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


#: claim-free index: name -> class (for ``optverify list`` and the tests)
NOTES_CLASSES: dict[str, type[FunctionalOptimizer]] = {
    cls.__name__: cls
    for cls in (
        Note000SGD,
        Note000Momentum,
        Note000Adagrad,
        Note000RMSprop,
        Note000Adam,
        Note000Adadelta,
        Note001RMSprop,
        Note003TorchMomentum,
        Note004Momentum,
        Note004Adagrad,
        Note004RMSprop,
        Note004Adadelta,
        Note004Adam,
    )
}
