"""A class with an optimiser's look but not a ``torch.optim.Optimizer`` subclass."""

from __future__ import annotations

from typing import Any


class DuckSGD:
    """Has ``step`` and ``zero_grad`` but is no Optimizer."""

    def __init__(self, params: Any, lr: float = 1e-3) -> None:
        self.params, self.lr = list(params), lr

    def step(self) -> None:
        for p in self.params:
            p.data.add_(p.grad, alpha=-self.lr)


NOT_A_CLASS = 42
