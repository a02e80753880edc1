"""The part every library shell shares: torch's constructor, param groups, pinned values.

A shell is a ``torch.optim.Optimizer`` subclass built for one library optimiser
(:func:`make_class`). Its constructor has torch's names for the hyperparameters the library
expresses (defaults: the library's own, translated) and, keyword-only, the pinned ones
(default: the pinned value; any other value is rejected). ``step`` translates each param
group's current hyperparameters into the library's keywords (so a scheduler's edit of
``param_groups[i]["lr"]`` takes effect at the next step) and hands every parameter that has
a gradient to the library's ``_step_param``; parameters without a gradient are skipped and
keep their state, as torch does.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from optverify.adapters.names import Alias, NoneIfZero

__all__ = ["AdapterError", "LibraryOptimizer", "MissingExtra", "make_class", "translate"]


class AdapterError(ValueError):
    """A target string the loader cannot use (one line; ``optverify check`` exits 2)."""


class MissingExtra(AdapterError):
    """The library of a target is not installed; the message names the extra to install."""

    def __init__(self, target: str, extra: str, module: str) -> None:
        super().__init__(
            f"{target} needs the {extra} extra ({module} is not installed): "
            f"pip install 'optverify[{extra}]'"
        )
        self.target, self.extra, self.module = target, extra, module


def _plain(value: Any, floats: bool = False) -> Any:
    """A hyperparameter as the library gets it: a 0-d tensor (torch's tensor lr) as a number;
    with ``floats`` an int (torch's default ``momentum=0``) as a float, since Keras rejects
    ``momentum=0`` but takes ``0.0`` (``keras/src/optimizers/sgd.py:74-75``)."""
    if isinstance(value, Tensor):
        return value.item()
    if floats and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def translate(
    mapping: Mapping[str, Any], group: Mapping[str, Any], floats: bool = True
) -> dict[str, Any]:
    """The library's keyword arguments for one param group (torch names in ``group``);
    ``floats``: ints become floats (every mapped hyperparameter of the tables is real)."""
    out: dict[str, Any] = {}
    for torch_name, lib in mapping.items():
        if torch_name not in group:
            continue
        value = group[torch_name]
        if isinstance(lib, tuple):
            first, second = value
            out[lib[0]], out[lib[1]] = _plain(first, floats), _plain(second, floats)
        elif isinstance(lib, NoneIfZero):
            out[lib.name] = None if _plain(value) == 0 else _plain(value, floats)
        else:
            out[lib] = _plain(value, floats)
    return out


def _torch_default(mapping: Mapping[str, Any], library: Mapping[str, Any], name: str) -> Any:
    """The library's default for torch's ``name``, in torch's terms (``empty`` if none)."""
    lib = mapping[name]
    empty = inspect.Parameter.empty
    if isinstance(lib, tuple):
        a, b = library.get(lib[0], empty), library.get(lib[1], empty)
        return empty if empty in (a, b) else (a, b)
    if isinstance(lib, NoneIfZero):
        value = library.get(lib.name, empty)
        return 0.0 if value is None else value
    return library.get(lib, empty)


class LibraryOptimizer(torch.optim.Optimizer):
    """Base of the generated shells; subclasses implement :meth:`_step_param`."""

    #: the target string (``optax:adam``)
    TARGET: ClassVar[str]
    #: torch's counterpart (``Adam``), or ``None`` for a factory without one
    COUNTERPART: ClassVar[str | None]
    #: torch hyperparameter -> the library's keyword (see :mod:`optverify.adapters.names`)
    MAPPING: ClassVar[Mapping[str, Any]]
    #: torch hyperparameters the library cannot express, with the torch value it matches
    PINNED: ClassVar[Mapping[str, Any]]
    #: the library's state field -> torch's state key
    STATE_KEYS: ClassVar[Mapping[str, str]]
    #: the library treats each element alone (the shell may flatten parameters)
    ELEMENTWISE: ClassVar[bool]
    #: integer hyperparameter values are passed as floats (False for user factories)
    INTS_AS_FLOATS: ClassVar[bool] = True
    #: the shells drive real dense tensors: dtypes and sparse gradients left out of the
    #: default coverage (read by :func:`optverify.properties.conformance.target_domain`)
    UNSUPPORTED_DTYPES: ClassVar[tuple[torch.dtype, ...]] = (torch.complex128, torch.complex64)
    SUPPORTS_SPARSE: ClassVar[bool] = False

    def __init__(self, params: Iterable[Any], **hyper: Any) -> None:
        accepted = set(self.MAPPING) | set(self.PINNED)
        unknown = sorted(set(hyper) - accepted)
        if unknown:
            raise TypeError(
                f"{self.TARGET} takes no hyperparameter {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(sorted(accepted))}"
            )
        signature = inspect.signature(type(self))
        defaults: dict[str, Any] = {}
        for name, parameter in signature.parameters.items():
            if name == "params":
                continue
            if name in hyper:
                defaults[name] = hyper[name]
            elif parameter.default is inspect.Parameter.empty:
                raise TypeError(f"{self.TARGET} needs {name!r} (the library has no default)")
            else:
                defaults[name] = parameter.default
        for name in self.PINNED:
            self._check_pinned(name, defaults[name])
        super().__init__(params, defaults)

    def _check_pinned(self, name: str, value: Any) -> None:
        pinned = self.PINNED[name]
        if _plain(value) != pinned:
            raise ValueError(
                f"{self.TARGET} cannot express {name}={value!r}: pinned to torch's {pinned!r}"
            )

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's, then the pinned values and the library's own validation (its exception,
        unchanged) of the group's hyperparameters."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for name in self.PINNED:
            if name in group:
                self._check_pinned(name, group[name])
        self._validate(translate(self.MAPPING, group, self.INTS_AS_FLOATS))

    def _validate(self, library_kwargs: Mapping[str, Any]) -> None:
        """Build the library's optimiser once so that it rejects what it rejects."""

    def _step_param(self, p: Tensor, grad: Tensor, library_kwargs: Mapping[str, Any]) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step of the library's optimiser on every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for name in self.PINNED:
                if name in group:
                    self._check_pinned(name, group[name])
            kwargs = translate(self.MAPPING, group, self.INTS_AS_FLOATS)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{self.TARGET} does not support sparse gradients")
                self._step_param(p, p.grad, kwargs)
        return loss


def make_class(
    base: type[LibraryOptimizer],
    target: str,
    alias: Alias,
    library_defaults: Mapping[str, Any],
    pinned: Mapping[str, Any],
    attributes: Mapping[str, Any] | None = None,
) -> type[LibraryOptimizer]:
    """A subclass of ``base`` for ``alias`` with torch's constructor signature.

    The mapped hyperparameters default to the library's defaults (translated to torch's
    form; torch's default where the library has none); the pinned ones are keyword-only with
    the pinned value as default.
    """
    from optverify.adapters.names import torch_defaults

    torch_default = torch_defaults(alias.torch)
    positional = [
        inspect.Parameter("params", inspect.Parameter.POSITIONAL_OR_KEYWORD),
    ]
    for name in alias.mapping:
        default = _torch_default(alias.mapping, library_defaults, name)
        if default is inspect.Parameter.empty:
            default = torch_default[name]
        positional.append(
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
        )
    keyword = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=value)
        for name, value in pinned.items()
    ]
    namespace: dict[str, Any] = {
        "TARGET": target,
        "COUNTERPART": alias.torch,
        "MAPPING": dict(alias.mapping),
        "PINNED": dict(pinned),
        "STATE_KEYS": dict(alias.state),
        "ELEMENTWISE": alias.elementwise,
        "__signature__": inspect.Signature(positional + keyword),
        "__doc__": (
            f"``{target}`` as a ``torch.optim.Optimizer`` with torch.optim.{alias.torch}'s "
            f"names; pinned: {pinned or 'nothing'}."
        ),
        "__module__": base.__module__,
        **(attributes or {}),
    }
    parts = target.replace(":", "_").split("_")
    class_name = "".join(part[:1].upper() + part[1:] for part in parts)
    return type(class_name, (base,), namespace)
