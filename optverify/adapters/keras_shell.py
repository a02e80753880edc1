"""A Keras 3 optimizer driven as a ``torch.optim.Optimizer`` (Keras's torch backend).

Keras runs its torch backend's own optimiser code (``keras/src/backend/torch/optimizers/``)
on ``keras.Variable`` objects whose values are torch tensors, so no conversion happens: the
parameter's value is assigned to the variable before a step and copied back after it.

Each parameter gets its own Keras optimizer (built under ``floatx`` equal to the parameter's
dtype, so the learning-rate variable is float64 for float64 parameters): torch keeps a step
counter per parameter and skips a parameter whose gradient is ``None``, and Keras's
``iterations`` then counts the same steps. Before every step the param group's current
hyperparameters are set on the optimizer (``learning_rate`` through its setter, the rest as
the attributes Keras reads at each step), and its slot variables are loaded from
``self.state[p]``; after it they are stored back, under torch's key where
:mod:`optverify.adapters.names` maps the slot, else ``keras.<slot>``, so ``state_dict()``
round trips work.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from optverify.adapters.base import AdapterError, LibraryOptimizer, MissingExtra

__all__ = ["KerasOptimizer", "import_keras"]

_SKIPPED = frozenset({"learning_rate"})


def import_keras(target: str) -> Any:
    """The ``keras`` module with the torch backend, or :class:`MissingExtra` / an
    :class:`AdapterError` when Keras was already imported with another backend."""
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "torch"
    try:
        import keras
    except ImportError as error:
        raise MissingExtra(target, "keras", error.name or "keras") from None
    backend = keras.config.backend()
    if backend != "torch":
        raise AdapterError(
            f"{target} runs Keras with the torch backend, but Keras was imported with "
            f"{backend!r}; set KERAS_BACKEND=torch"
        )
    return keras


@contextlib.contextmanager
def _floatx(keras: Any, dtype: torch.dtype) -> Iterator[None]:
    before = keras.config.floatx()
    keras.config.set_floatx(str(dtype).removeprefix("torch."))
    try:
        yield
    finally:
        keras.config.set_floatx(before)


class KerasOptimizer(LibraryOptimizer):
    """Base of the ``keras:NAME`` shells."""

    #: the Keras optimizer class
    KERAS_CLASS: ClassVar[type]

    def _validate(self, library_kwargs: Mapping[str, Any]) -> None:
        import_keras(self.TARGET)
        self.KERAS_CLASS(**library_kwargs)

    def _keras_pair(self, keras: Any, p: Tensor, library_kwargs: Mapping[str, Any]) -> Any:
        pairs: dict[Tensor, Any] = self.__dict__.setdefault("_keras_pairs", {})
        if p not in pairs:
            with _floatx(keras, p.dtype):
                variable = keras.Variable(
                    p.detach().clone(), dtype=str(p.dtype).removeprefix("torch."), name="param"
                )
                optimizer = self.KERAS_CLASS(**library_kwargs)
                optimizer.build([variable])
            slots = {}
            for v in optimizer.variables:
                name = v.name.removeprefix("param_")
                if name not in _SKIPPED:
                    slots[name] = v
            pairs[p] = (optimizer, variable, slots)
        return pairs[p]

    def _step_param(self, p: Tensor, grad: Tensor, library_kwargs: Mapping[str, Any]) -> None:
        keras = import_keras(self.TARGET)
        optimizer, variable, slots = self._keras_pair(keras, p, library_kwargs)
        for name, value in library_kwargs.items():
            if name == "learning_rate":
                optimizer.learning_rate = value
            else:
                setattr(optimizer, name, value)
        stored = self.state[p]
        device = variable.value.device
        for name, v in slots.items():
            key = self.STATE_KEYS.get(name, f"keras.{name}")
            if key in stored:
                v.assign(stored[key].to(device=device, dtype=v.value.dtype))
        variable.assign(p.detach().to(device))
        with _floatx(keras, p.dtype):
            optimizer.apply([grad.detach().to(device)], [variable])
        p.copy_(variable.value.detach())
        for name, v in slots.items():
            key = self.STATE_KEYS.get(name, f"keras.{name}")
            stored[key] = v.value.detach().clone().to(p.device)
