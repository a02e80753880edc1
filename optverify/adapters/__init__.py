"""Optimisers of other frameworks as ``torch.optim.Optimizer`` classes, to check against torch.

Three target forms (:func:`load_adapter`):

* ``optax:NAME`` — an optax alias of :data:`optverify.adapters.names.OPTAX` (``optax:adam``,
  ``optax:rmsprop``...), with torch's hyperparameter names (needs the ``jax`` extra);
* ``keras:NAME`` — a Keras 3 optimizer class of :data:`~optverify.adapters.names.KERAS`
  (``keras:Adam``), run with the torch backend (needs the ``keras`` extra);
* ``module:function`` — a function returning an optax ``GradientTransformation`` whose
  parameters are torch's hyperparameter names (``def my_adam(lr, betas, eps)``), with the
  state fields named after torch's state keys where they mean the same.

Each class carries ``TARGET``, ``COUNTERPART`` (torch's optimiser), ``PINNED`` (the torch
hyperparameters the library cannot express, with the torch value it matches) and the names
table. A check passes the pinned values as pins (:func:`pins_for`)::

    cls = load_adapter("optax:amsgrad")
    assert_conforms(cls, cls.COUNTERPART, **pins_for(cls, cls.COUNTERPART))

``optverify check`` calls it so: for ``is_adapter_target(text)`` (and for a
``module:function`` whose attribute is a function, not a class) ``cls = load_adapter(text)``;
an :class:`AdapterError` (:class:`MissingExtra` included) is its one-line exit-2 message;
``--against`` defaults to ``cls.COUNTERPART``; the pins are ``pins_for(cls, against, sets)``
(``sets`` from ``--set``; a set contradicting a pinned value is an :class:`AdapterError`).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from torch.optim import Optimizer

from optverify.adapters.base import AdapterError, LibraryOptimizer, MissingExtra, make_class
from optverify.adapters.names import IMPLEMENTATION_FLAGS, KERAS, OPTAX, Alias, pinned_for

__all__ = [
    "AdapterError",
    "LibraryOptimizer",
    "MissingExtra",
    "adapt_factory",
    "is_adapter_target",
    "load_adapter",
    "pins_for",
]

_PREFIXES = ("optax:", "keras:")


def is_adapter_target(text: str) -> bool:
    """``optax:NAME`` or ``keras:NAME`` (``module:function`` is told apart after import)."""
    return text.startswith(_PREFIXES)


def _library_defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _unknown(target: str, library: str, table: Mapping[str, Alias]) -> AdapterError:
    return AdapterError(
        f"{target}: no torch counterpart known for this {library} optimiser; "
        f"known: {', '.join(f'{library}:{n}' for n in sorted(table))}"
    )


def _optax_class(target: str, name: str) -> type[LibraryOptimizer]:
    from optverify.adapters.optax_shell import OptaxOptimizer, import_optax

    if name not in OPTAX:
        raise _unknown(target, "optax", OPTAX)
    _, optax = import_optax(target)
    alias = OPTAX[name]
    factory = getattr(optax, name)
    return make_class(
        OptaxOptimizer, target, alias, _library_defaults(factory), pinned_for(alias),
        {"FACTORY": staticmethod(factory)},
    )  # fmt: skip


def _keras_class(target: str, name: str) -> type[LibraryOptimizer]:
    from optverify.adapters.keras_shell import KerasOptimizer, import_keras

    if name not in KERAS:
        raise _unknown(target, "keras", KERAS)
    keras = import_keras(target)
    alias = KERAS[name]
    cls = getattr(keras.optimizers, name)
    return make_class(
        KerasOptimizer, target, alias, _library_defaults(cls), pinned_for(alias),
        {"KERAS_CLASS": cls},
    )  # fmt: skip


def adapt_factory(factory: Callable[..., Any], target: str) -> type[LibraryOptimizer]:
    """A shell around ``factory(**hyper) -> GradientTransformation`` named in torch's terms.

    The factory's keyword parameters are the constructor's (torch names, passed unchanged);
    its state fields keep their names (name them after torch's state keys to compare them).
    It has no torch counterpart of its own and pins nothing: ``--against`` says what it is,
    and torch's hyperparameters it does not take stay at torch's defaults.
    """
    from optverify.adapters.optax_shell import OptaxOptimizer, import_optax

    import_optax(target)
    parameters = [
        p for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]  # fmt: skip
    signature = inspect.Signature(
        [inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters]
    )
    namespace = {
        "TARGET": target,
        "COUNTERPART": None,
        "MAPPING": {p.name: p.name for p in parameters},
        "PINNED": {},
        "STATE_KEYS": {},
        "ELEMENTWISE": False,
        "INTS_AS_FLOATS": False,
        "FACTORY": staticmethod(factory),
        "__signature__": signature,
        "__doc__": f"``{target}`` as a ``torch.optim.Optimizer``.",
        "__module__": OptaxOptimizer.__module__,
    }
    return type(getattr(factory, "__name__", "Factory"), (OptaxOptimizer,), namespace)


@functools.cache
def load_adapter(text: str) -> type[Optimizer]:
    """The ``torch.optim.Optimizer`` class for ``optax:NAME``, ``keras:NAME`` or
    ``module:function`` (a function returning an optax ``GradientTransformation``).

    Raises :class:`MissingExtra` (an :class:`AdapterError`) when the library is not
    installed, and :class:`AdapterError` (one line) for anything else it cannot load.
    """
    library, sep, name = text.partition(":")
    if not sep or not name:
        raise AdapterError(f"target {text!r}: expected optax:NAME, keras:NAME or module:function")
    if library == "optax":
        return _optax_class(text, name)
    if library == "keras":
        return _keras_class(text, name)
    if not all(part.isidentifier() for part in library.split(".")):
        raise AdapterError(f"target {text!r}: {library!r} is not a module name")
    try:
        module = importlib.import_module(library)
    except ImportError as error:
        raise AdapterError(f"cannot import {library}: {error}") from None
    factory = getattr(module, name, None)
    if factory is None or isinstance(factory, type) or not callable(factory):
        raise AdapterError(f"{text}: not a function returning an optax GradientTransformation")
    return adapt_factory(factory, text)


def pins_for(cls: type[Optimizer], against: str, sets: Mapping[str, Any] | None = None) -> dict:
    """The pins a check of ``cls`` against ``torch.optim.<against>`` passes to
    ``assert_conforms``: the class's pinned values that torch's ``against`` takes, then the
    user's ``sets`` (``--set``). A set that contradicts a pinned value is an
    :class:`AdapterError` (the library cannot express it).
    """
    import torch

    reference = inspect.signature(getattr(torch.optim, against.removeprefix("torch.optim.")))
    takes = set(reference.parameters) - IMPLEMENTATION_FLAGS
    pinned = {k: v for k, v in getattr(cls, "PINNED", {}).items() if k in takes}
    for key, value in (sets or {}).items():
        if key in pinned and value != pinned[key]:
            target = getattr(cls, "TARGET", cls.__name__)
            raise AdapterError(
                f"--set {key}={value!r}: {target} cannot express it (pinned to {pinned[key]!r})"
            )
    return {**pinned, **(sets or {})}
