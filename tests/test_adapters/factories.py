"""``module:function`` targets for the adapter tests (optax factories in torch's names)."""

from __future__ import annotations

from typing import Any


def rmsprop_eps_outside(
    lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8, centered: bool = False
) -> Any:
    """optax's RMSprop with ε outside the root (``eps_in_sqrt=False``): torch's placement."""
    import optax

    return optax.rmsprop(lr, decay=alpha, eps=eps, centered=centered, eps_in_sqrt=False)


class NotAFunction:
    """A class: ``module:NotAFunction`` is not a factory target."""
