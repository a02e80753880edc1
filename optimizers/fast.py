"""Fast paths of the readable optimisers: a multi-tensor step, and a compiled one.

>>> from optverify.optimizers import fast
>>> opt = fast.Adam(model.parameters(), lr=1e-3)  # doctest: +SKIP
>>> opt = fast.CompiledAdam(model.parameters(), lr=1e-3)  # doctest: +SKIP

Each class subclasses the readable class of the same name (``fast.Adam`` is an
``optimizers.Adam``), so it has torch's constructor, defaults, validation and state layout,
and its ``state_dict`` loads into torch's class and back. Only ``step`` differs: it updates
all parameters of a param group together, in place (see :mod:`optimizers._fast._base`):

* ``fast.X`` — the **multi-tensor** path: ``torch._foreach_*`` operations, one call per
  operation for all tensors of a (device, dtype) bucket. No compilation; the default choice
  for many small tensors.
* ``fast.CompiledX`` — the **compiled** path (:mod:`optimizers._fast._group`): kernels
  compiled by ``torch.compile`` into loops that read and write each element once. Tensors
  of at least ``compile_min_numel`` (2^16) elements are rows of their own; the smaller ones
  of a bucket are updated as one flat buffer (their state tensors re-pointed into it, same
  objects and shapes). From 8 rows on, a bucket's rows run as one compiled graph (one call
  per step; ResNet-50's list: ~25 s to compile the first time, cached on disk by inductor);
  fewer rows take one per-tensor kernel call each.

Each fast module states the readable core it mirrors and the rule line by line. They agree
with the readable classes and with torch up to the *faithful* tolerance (another operation
order), checked by ``tests/test_fast_paths.py``. Adafactor's fast classes update one
parameter at a time, vectors (whole second moment) and matrices (row and column factors)
alike, in place or compiled (a vector: two passes; a matrix: three; the norms stay on the
device, and the norm of the parameter written by one step is kept for the next while the
parameter's version counter shows no other write). Not here: Muon (matrix products
dominate), SparseAdam (sparse gradients) and LBFGS (a closure-driven line search): a fast
path does not pay there.
"""

from __future__ import annotations

from optverify.optimizers._fast.adadelta import Adadelta, CompiledAdadelta
from optverify.optimizers._fast.adafactor import Adafactor, CompiledAdafactor
from optverify.optimizers._fast.adagrad import Adagrad, CompiledAdagrad
from optverify.optimizers._fast.adam import Adam, AdamW, CompiledAdam, CompiledAdamW
from optverify.optimizers._fast.adamax import Adamax, CompiledAdamax
from optverify.optimizers._fast.asgd import ASGD, CompiledASGD
from optverify.optimizers._fast.nadam import CompiledNAdam, NAdam
from optverify.optimizers._fast.radam import CompiledRAdam, RAdam
from optverify.optimizers._fast.rmsprop import CompiledRMSprop, RMSprop
from optverify.optimizers._fast.rprop import CompiledRprop, Rprop
from optverify.optimizers._fast.sgd import SGD, CompiledSGD

__all__ = [
    "ASGD",
    "COMPILED",
    "FAST",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "CompiledASGD",
    "CompiledAdadelta",
    "CompiledAdafactor",
    "CompiledAdagrad",
    "CompiledAdam",
    "CompiledAdamW",
    "CompiledAdamax",
    "CompiledNAdam",
    "CompiledRAdam",
    "CompiledRMSprop",
    "CompiledRprop",
    "CompiledSGD",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
]

#: torch optimiser name -> multi-tensor class
FAST = {
    "SGD": SGD,
    "Adam": Adam,
    "AdamW": AdamW,
    "Adagrad": Adagrad,
    "Adadelta": Adadelta,
    "RMSprop": RMSprop,
    "Adamax": Adamax,
    "NAdam": NAdam,
    "RAdam": RAdam,
    "ASGD": ASGD,
    "Rprop": Rprop,
    "Adafactor": Adafactor,
}

#: torch optimiser name -> compiled class
COMPILED = {
    "SGD": CompiledSGD,
    "Adam": CompiledAdam,
    "AdamW": CompiledAdamW,
    "Adagrad": CompiledAdagrad,
    "Adadelta": CompiledAdadelta,
    "RMSprop": CompiledRMSprop,
    "Adamax": CompiledAdamax,
    "NAdam": CompiledNAdam,
    "RAdam": CompiledRAdam,
    "ASGD": CompiledASGD,
    "Rprop": CompiledRprop,
    "Adafactor": CompiledAdafactor,
}
