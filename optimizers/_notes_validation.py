r"""Argument checks and zero state shared by the notes' optimisers (:mod:`optimizers.notes`).

The error messages are worded as ``torch.optim``'s (``Invalid learning rate: ...``).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_coefficient", "check_eps", "check_lr", "zeros_like_param"]


def check_lr(lr: float) -> None:
    """Reject a negative learning rate."""
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def check_coefficient(name: str, value: float) -> None:
    """Reject a momentum or averaging coefficient ``name`` outside :math:`[0, 1)`."""
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid {name} value: {value}")


def check_eps(eps: float) -> None:
    r"""Reject a negative :math:`\epsilon`."""
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")


def zeros_like_param(param: Tensor) -> Tensor:
    """Zeros of ``param``'s shape, dtype, device and memory format (a zero state, ``v_0 = 0``)."""
    return torch.zeros_like(param, memory_format=torch.preserve_format)
