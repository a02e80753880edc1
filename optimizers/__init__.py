"""From-scratch, readable reimplementations of every ``torch.optim`` optimiser (torch 2.13).

Each module holds one algorithm family as a pure functional core (``init``/``step``, a frozen
config, a ``NamedTuple`` state named after torch's state keys) and a thin
``torch.optim.Optimizer`` subclass over it with torch's constructor, defaults, validation
and state layout. ``optimizers.notes`` holds the study notes' own formulations.
"""

from optimizers.adadelta import Adadelta
from optimizers.adafactor import Adafactor
from optimizers.adagrad import Adagrad
from optimizers.adam import Adam, AdamW
from optimizers.adamax import Adamax
from optimizers.asgd import ASGD
from optimizers.lbfgs import LBFGS
from optimizers.muon import Muon
from optimizers.nadam import NAdam
from optimizers.radam import RAdam
from optimizers.rmsprop import RMSprop
from optimizers.rprop import Rprop
from optimizers.sgd import SGD
from optimizers.sparse_adam import SparseAdam

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Muon",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SparseAdam",
]
