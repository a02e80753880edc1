"""From-scratch, readable reimplementations of every ``torch.optim`` optimiser (torch 2.13).

Each module holds one algorithm family as a pure functional core (``init``/``step``, a frozen
config, a ``NamedTuple`` state named after torch's state keys) and a thin
``torch.optim.Optimizer`` subclass over it with torch's constructor, defaults, validation
and state layout. ``optimizers.notes`` holds the study notes' own formulations.
"""

from optverify.optimizers import _compat  # noqa: F401  (first: torch before 2.2)
from optverify.optimizers.adadelta import Adadelta
from optverify.optimizers.adafactor import Adafactor
from optverify.optimizers.adagrad import Adagrad
from optverify.optimizers.adam import Adam, AdamW
from optverify.optimizers.adamax import Adamax
from optverify.optimizers.asgd import ASGD
from optverify.optimizers.lbfgs import LBFGS
from optverify.optimizers.muon import Muon
from optverify.optimizers.nadam import NAdam
from optverify.optimizers.radam import RAdam
from optverify.optimizers.rmsprop import RMSprop
from optverify.optimizers.rprop import Rprop
from optverify.optimizers.sgd import SGD
from optverify.optimizers.sparse_adam import SparseAdam

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
