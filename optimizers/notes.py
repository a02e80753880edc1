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

The classes live by family: :mod:`optimizers.notes_sgd` (SGD and momentum),
:mod:`optimizers.notes_adaptive` (Adagrad, RMSProp, Adadelta) and :mod:`optimizers.notes_adam`.
"""

from __future__ import annotations

from optverify.optimizers._shell import FunctionalOptimizer
from optverify.optimizers.notes_adam import Note000Adam, Note004Adam
from optverify.optimizers.notes_adaptive import (
    Note000Adadelta,
    Note000Adagrad,
    Note000RMSprop,
    Note001RMSprop,
    Note004Adadelta,
    Note004Adagrad,
    Note004RMSprop,
)
from optverify.optimizers.notes_sgd import (
    Note000Momentum,
    Note000SGD,
    Note003TorchMomentum,
    Note004Momentum,
)

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
