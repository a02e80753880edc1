r"""Argument checks and zero state shared by the notes' optimisers (:mod:`optimizers.notes`).

The error messages are worded as ``torch.optim``'s (``Invalid learning rate: ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import torch
from torch import Tensor

__all__ = [
    "check_betas",
    "check_coefficient",
    "check_eps",
    "check_lr",
    "check_rho",
    "checked_defaults",
    "zero_state_init",
    "zeros_like_param",
]

_State = TypeVar("_State", bound=NamedTuple)


def check_lr(lr: float) -> None:
    """Reject a negative learning rate."""
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_coefficient(name: str, value: float) -> None:
    """Reject a momentum or averaging coefficient ``name`` outside :math:`[0, 1)`."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid {name} value: {value}")


def check_betas(betas: tuple[float, float]) -> None:
    r"""Reject an Adam :math:`\beta_i` outside :math:`[0, 1)`."""
    for index, beta in enumerate(betas):
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {beta}")


def check_eps(eps: float) -> None:
    r"""Reject a negative :math:`\epsilon`."""
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")


def check_rho(rho: float) -> None:
    r"""Reject an Adadelta :math:`\rho` outside :math:`[0, 1]` (torch accepts 1)."""
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"Invalid rho value: {rho}")


def checked_defaults(**hyper: Any) -> dict[str, Any]:
    """``hyper`` as a param group's defaults, each checked in turn as torch checks its namesake.

    The notes' hyperparameters carry torch's names where the meaning matches (the conventions
    of :mod:`optimizers.notes`), so the name chooses the check: ``lr``; ``momentum`` and
    ``alpha`` in :math:`[0, 1)`; ``betas`` (kept as a tuple); ``rho``; ``eps`` and
    ``eps_in_sqrt``. Any other entry (a flag of the rule) is passed through unchecked.
    """
    defaults = dict(hyper)
    for name, value in hyper.items():
        if name == "lr":
            check_lr(value)
        elif name in ("momentum", "alpha"):
            check_coefficient(name, value)
        elif name == "betas":
            check_betas(value)
            defaults[name] = tuple(value)
        elif name == "rho":
            check_rho(value)
        elif name in ("eps", "eps_in_sqrt"):
            check_eps(value)
    return defaults


def zeros_like_param(param: Tensor) -> Tensor:
    """Zeros of ``param``'s shape, dtype, device and memory format (a zero state, ``v_0 = 0``)."""
    return torch.zeros_like(param, memory_format=torch.preserve_format)


def zero_state_init(state_type: type[_State]) -> Callable[[Tensor, Tensor | None, Any], _State]:
    """The ``init`` of a state whose every field starts at zero: :func:`zeros_like_param` each."""

    def init(param: Tensor, grad: Tensor | None, cfg: Any) -> _State:
        return state_type._make(zeros_like_param(param) for _ in state_type._fields)

    return init
