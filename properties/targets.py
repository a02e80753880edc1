"""The target and torch's reference: which torch class, which of its implementations (modes),
and how each is constructed from a problem's param groups.

:func:`resolve_spec` finds the spec for a name; :func:`factory` builds an optimiser from
torch-style param groups; :func:`modes_for` and :func:`mode_kwargs` select torch's for-loop,
foreach, fused (and, on CUDA, capturable) paths; :func:`target_domain` is the coverage a
target declares it takes. A target that cannot be constructed as torch's class is (an
argument torch's does not take) is a :class:`TargetUsageError`, not a verdict.
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.optim import Optimizer

from optverify.properties.capabilities import MODES, Spec
from optverify.properties.harness import OptimizerFactory
from optverify.properties.specs import SPECS

__all__ = [
    "TargetUsageError",
    "accepted_hyperparameters",
    "check_constructs",
    "default_dtypes",
    "factory",
    "mode_kwargs",
    "modes_for",
    "resolve_spec",
    "target_domain",
]


class TargetUsageError(TypeError):
    """The target cannot be checked as given (e.g. its constructor needs an argument torch's
    does not take): a usage problem, not a verdict. ``missing`` names the arguments."""

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = list(missing)


def resolve_spec(against: str) -> Spec:
    """The spec for ``"Adam"`` or ``"torch.optim.Adam"``; ``KeyError`` listing valid names
    (and the closest, for a near miss such as ``adam``)."""
    name = against.removeprefix("torch.optim.")
    if name not in SPECS:
        close = [n for n in SPECS if n.lower() == name.lower()] or difflib.get_close_matches(
            name, list(SPECS), n=1
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown optimiser {against!r}{hint} valid: {', '.join(sorted(SPECS))}")
    return SPECS[name]


def accepted_hyperparameters(cls: Callable[..., Any]) -> set[str] | None:
    """Keyword names ``cls``'s constructor accepts (``None``: it takes ``**kwargs``)."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {n for n in params if n != "params"}


def factory(cls: Callable[..., Optimizer], **fixed: Any) -> OptimizerFactory:
    """Build ``cls(groups, **first_group_hyper, **fixed)``: the first group gives the defaults."""

    def make(groups: list[dict[str, Any]]) -> Optimizer:
        first = {k: v for k, v in groups[0].items() if k != "params"}
        return cls(groups, **{**first, **fixed})

    return make


def modes_for(spec: Spec, device: str) -> tuple[str, ...]:
    """torch's implementations of ``spec`` on ``device`` (``capturable`` on CUDA only)."""
    modes = spec.modes_on(device)
    if device.startswith("cuda"):
        accepted = accepted_hyperparameters(spec.reference) or set()
        return modes + (("capturable",) if "capturable" in accepted else ())
    return modes


def mode_kwargs(spec: Spec, mode: str) -> dict[str, Any]:
    """Constructor arguments selecting ``mode`` (none where torch has a single path)."""
    accepted = accepted_hyperparameters(spec.reference)
    return {k: v for k, v in MODES[mode].items() if accepted is None or k in accepted}


def default_dtypes(spec: Spec) -> tuple[torch.dtype, ...]:
    """Every dtype torch's class takes: the spec's real dtypes and, where it takes complex,
    complex128 and complex64."""
    complex_ = (torch.complex128, torch.complex64) if spec.supports_complex else ()
    return tuple(spec.dtypes) + complex_


def target_domain(
    target: Any, spec: Spec
) -> tuple[tuple[torch.dtype, ...], bool, tuple[torch.dtype, ...]]:
    """The default coverage for ``target``: (dtypes, sparse, dtypes left out).

    A target class narrows it by declaring ``UNSUPPORTED_DTYPES`` (a tuple of dtypes) and
    ``SUPPORTS_SPARSE = False``, as the optax and Keras shells do; everything else gets
    :func:`default_dtypes` and sparse gradients where torch's class takes them."""
    left_out = tuple(getattr(target, "UNSUPPORTED_DTYPES", ()) or ())
    dtypes = tuple(d for d in default_dtypes(spec) if d not in left_out)
    return dtypes, bool(getattr(target, "SUPPORTS_SPARSE", True)), left_out


def check_constructs(make: OptimizerFactory, spec: Spec, name: str, device: str) -> None:
    """A constructor that needs an argument torch's does not take is a usage problem."""
    param = torch.zeros(2, 2, dtype=torch.float64, device=device, requires_grad=True)
    try:
        make([{"params": [param]}])
    except TypeError as error:
        text = str(error)
        if "required" in text and "argument" in text:
            missing = re.findall(r"'(\w+)'", text.split("argument", 1)[1]) or ["an argument"]
            raise TargetUsageError(
                f"{name}() needs {', '.join(map(repr, missing))} that torch.optim.{spec.name} "
                f"does not take: pass it with init={{{missing[0]!r}: ...}}",
                missing,
            ) from None
    except Exception:
        pass  # the property reports it with a minimal example
