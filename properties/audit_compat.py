"""What the installed torch offers ``optverify audit-torch``: its implementations of each
optimiser, and what an older release lacks.

The audit runs on every torch from 2.0 on. An optimiser the release lacks (Adafactor before
2.5, Muon before 2.9), an implementation it lacks (a constructor without ``fused``), a
hyperparameter its constructor does not take (``decoupled_weight_decay`` of Adam before 2.7)
and a 0-d tensor learning rate that an implementation refuses are each skipped with a
reason, never judged: the audit compares what the release has, and only that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
from hypothesis import strategies as st
from torch import Tensor

from optverify import torch_compat
from optverify.properties.conformance import accepted_hyperparameters, factory, mode_kwargs
from optverify.properties.conformance import modes_for as _modes_for
from optverify.properties.harness import OptimizerFactory
from optverify.properties.specs import MODES, Spec

__all__ = [
    "Implementations",
    "implementation_kwargs",
    "lacking_flags",
    "lacking_mode",
    "lacking_optimizer",
    "narrowed_hyper",
    "tensor_lr_refusals",
    "torch_implementations",
]

#: one optimiser's implementations: name (``forloop``, ``foreach``, ...) -> factory
Implementations = Mapping[str, OptimizerFactory]

HyperStrategy = Callable[[], st.SearchStrategy[dict[str, Any]]]


def implementation_kwargs(spec: Spec, mode: str) -> dict[str, Any]:
    """Constructor arguments selecting torch's implementation ``mode``."""
    if mode == "capturable" and mode not in MODES:
        accepted = accepted_hyperparameters(spec.reference)
        return {"capturable": True} if accepted is None or "capturable" in accepted else {}
    return mode_kwargs(spec, mode)


def lacking_optimizer(name: str) -> str | None:
    """Why ``torch.optim.<name>`` cannot be audited here (``None``: it exists)."""
    return torch_compat.lacking(name)


def lacking_mode(spec: Spec, mode: str) -> str | None:
    """Why implementation ``mode`` of ``spec`` does not exist in this torch (``None``: it
    does): its selecting argument (``foreach``, ``fused``) is not a constructor argument."""
    if mode == "forloop":
        return None
    wanted = MODES.get(mode, {"capturable": True})
    accepted = accepted_hyperparameters(spec.reference)
    if accepted is None:
        return None
    missing = [k for k in wanted if k not in accepted]
    if not missing:
        return None
    return (
        f"torch {torch_compat.installed_torch()}'s {spec.name} takes no {missing[0]!r} "
        f"argument: no {mode} implementation"
    )


def torch_implementations(spec: Spec, device: str = "cpu") -> dict[str, OptimizerFactory]:
    """torch's implementations of ``spec`` on ``device`` that this torch has, for-loop first."""
    return {
        m: factory(spec.reference, **implementation_kwargs(spec, m))
        for m in _modes_for(spec, device)
        if lacking_mode(spec, m) is None
    }


def lacking_flags(spec: Spec) -> dict[str, str]:
    """Hyperparameters of ``spec.flags`` this torch's constructor does not take -> why."""
    names = [f for f in spec.flags if " " not in f]
    missing = torch_compat.lacking_flags(spec.name, names)
    version = torch_compat.installed_torch()
    return {f: f"torch {version}'s {spec.name} takes no {f!r} argument" for f in missing}


def _attempt(make: OptimizerFactory, device: str) -> BaseException | None:
    p = torch.ones(3, dtype=torch.float32, device=device, requires_grad=True)
    p.grad = torch.ones_like(p)
    try:
        make([{"params": [p], "lr": torch.tensor(0.01, dtype=torch.float64)}]).step()
    except Exception as error:
        return error
    return None


#: how torch's docstrings type a float-only learning rate (before torch 2.2: ``lr (float)``)
_FLOAT_ONLY_LR = re.compile(r"\blr \(float(, optional)?\)")


def tensor_lr_refusals(spec: Spec, impls: Implementations, device: str) -> dict[str, str]:
    """Implementations of ``spec`` that refuse a 0-d tensor learning rate -> the error; all
    of them when this torch has no tensor lr for ``spec``: its docstring types ``lr`` as a
    float only, or its for-loop refuses one."""
    if "tensor lr" not in spec.flags or len(impls) < 2:
        return {}
    if _FLOAT_ONLY_LR.search(spec.reference.__doc__ or ""):
        why = f"torch {torch_compat.installed_torch()} documents {spec.name}'s lr as a float only"
        return dict.fromkeys(impls, why)
    refusals: dict[str, str] = {}
    for mode, make in impls.items():
        error = _attempt(make, device)
        if error is not None:
            text = str(error).strip().splitlines()
            refusals[mode] = f"{type(error).__name__}: {text[0] if text else ''}"[:200]
    if "forloop" in refusals:
        return {m: refusals.get(m, refusals["forloop"]) for m in impls}
    return refusals


def _narrow(hyper: dict[str, Any], keep: frozenset[str] | None, float_lr: bool) -> dict[str, Any]:
    out = {k: v for k, v in hyper.items() if keep is None or k in keep}
    if float_lr and isinstance(out.get("lr"), Tensor):
        out["lr"] = float(out["lr"].item())
    return out


def narrowed_hyper(spec: Spec, float_lr: bool) -> HyperStrategy:
    """``spec.hyper`` without the hyperparameters this torch's constructor does not take
    and, with ``float_lr``, with a tensor learning rate replaced by its float
    (``spec.hyper`` itself when nothing is narrowed)."""
    if not lacking_flags(spec) and not float_lr:
        return spec.hyper
    accepted = accepted_hyperparameters(spec.reference)
    keep = None if accepted is None else frozenset(accepted)
    hyper = spec.hyper

    def strategy() -> st.SearchStrategy[dict[str, Any]]:
        return hyper().map(lambda h: _narrow(h, keep, float_lr))

    return strategy
