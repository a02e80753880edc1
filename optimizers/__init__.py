"""From-scratch, readable reimplementations of ``torch.optim`` optimisers (torch 2.13).

Each module holds one algorithm family as a pure functional core (``init``/``step``, a frozen
config, a ``NamedTuple`` state named after torch's state keys) and a thin
``torch.optim.Optimizer`` subclass over it with torch's constructor, defaults, validation
and state layout.
"""

from optimizers.adam import Adam, AdamW
from optimizers.sgd import SGD

__all__ = ["SGD", "Adam", "AdamW"]
