"""State layout: how a target keeps its per-parameter state beside torch, and a lenient view.

A short probe (:func:`probe_layout`) runs a few fixed problems with the target and torch and
compares their ``optimizer.state[p]`` layouts. Keys only one side keeps are not compared
(the verdict says which); a key kept as a Python number on one side and a one-element tensor
on the other (an ``int`` step) is compared by value; a key whose values cannot be compared
(another shape or type) is left out and reported. :func:`lenient` wraps the target class so
that the comparison reads its state through those rules; everything else (construction,
``step``, ``param_groups``, ``state_dict``) stays the target's own. ``optverify check``,
``assert_conforms`` and the repro script all use these two functions.
"""

from __future__ import annotations

import contextlib
import inspect
import numbers
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch

from optverify.properties.harness import Problem, run_problem
from optverify.properties.specs import Spec

__all__ = ["MODE_FLAGS", "Layout", "lenient", "probe_layout"]

#: constructor flags that choose how torch computes, not what
MODE_FLAGS = frozenset({"foreach", "fused", "capturable", "differentiable"})


@dataclass
class Layout:
    """How the target's per-parameter state compares with torch's (from a short probe)."""

    target_keys: list[str] = field(default_factory=list)
    torch_keys: list[str] = field(default_factory=list)
    #: key -> "tensor" (target's number compared as a tensor) or "number"
    coerce: dict[str, str] = field(default_factory=dict)
    #: key -> why its values cannot be compared
    hidden: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.notes

    def as_json(self) -> dict[str, Any]:
        return {
            "same_as_torch": self.same,
            "target_keys": self.target_keys,
            "torch_keys": self.torch_keys,
            "compared_by_value": sorted(self.coerce),
            "not_compared": {
                **{k: "only torch keeps it" for k in self.torch_keys if k not in self.target_keys},
                **{
                    k: "only the target keeps it"
                    for k in self.target_keys
                    if k not in self.torch_keys
                },
                **self.hidden,
            },
            "notes": self.notes,
        }


def _describe_value(v: Any) -> str:
    if isinstance(v, torch.Tensor):
        dtype = str(v.dtype).removeprefix("torch.")
        return f"a {tuple(v.shape)} {dtype} tensor" if v.dim() else f"a 0-d {dtype} tensor"
    return f"a Python {type(v).__name__}"


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Number)


def _accepted(cls: type) -> set[str] | None:
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return {n for n in params if n != "params"}


def _probe_problems(
    spec: Spec, target: type, pins: Mapping[str, Any], device: str
) -> list[Problem]:
    """Small fixed problems with flags off (defaults) and on (to see every state key)."""
    accepted = _accepted(target)
    ref_sig = inspect.signature(spec.reference).parameters

    def takes(name: str) -> bool:
        return name in ref_sig and (accepted is None or name in accepted)

    plain: dict[str, Any] = {"lr": 1e-2} if takes("lr") else {}
    flags_on = dict(plain)
    for name, param in ref_sig.items():
        if name not in MODE_FLAGS and param.default is False and takes(name):
            flags_on[name] = True
    for name, value in (("momentum", 0.9), ("dampening", 0.0), ("weight_decay", 1e-2)):
        if takes(name):
            flags_on[name] = value
    gen = torch.Generator().manual_seed(0)
    out = []
    for shapes in ([(3, 2), (4,)], [(3, 2)]):
        for hyper in (plain, flags_on):
            params = tuple(
                torch.randn(s, generator=gen, dtype=torch.float64).to(device) for s in shapes
            )
            grads = tuple(
                tuple(torch.randn(s, generator=gen, dtype=torch.float64).to(device) for s in shapes)
                for _ in range(3)
            )
            out.append(
                Problem(
                    params=params,
                    groups=(tuple(range(len(shapes))),),
                    hyper=({**hyper, **pins},),
                    grads=grads,
                )
            )
    return out


def probe_layout(
    target: type,
    spec: Spec,
    pins: Mapping[str, Any],
    device: str = "cpu",
    around: Callable[[Problem], AbstractContextManager[Any]] | None = None,
    make: Callable[[type], Callable[[list[dict[str, Any]]], Any]] | None = None,
) -> Layout:
    """Run a few fixed problems with the target and torch and compare their state layouts.

    Never raises for the target's sake: a probe the target fails is skipped (the property
    will report the failure with a minimal example). ``around(problem)`` is entered around
    the target's runs (a deadline); ``make(cls)`` builds the optimiser factory (default: the
    first group's hyperparameters as constructor keywords).
    """
    from optverify.properties.conformance import factory

    build = make if make is not None else factory

    layout = Layout()
    observed: dict[str, tuple[Any, Any]] = {}
    target_keys: dict[str, None] = {}
    torch_keys: dict[str, None] = {}
    no_state = 0
    probed = 0
    for problem in _probe_problems(spec, target, pins, device):
        try:
            reference = run_problem(factory(spec.reference), problem)
        except Exception:
            continue  # torch refuses this probe (e.g. Muon and 1-d parameters)
        try:
            with around(problem) if around is not None else contextlib.nullcontext():
                mine = run_problem(build(target), problem)
        except Exception:
            continue
        probed += 1
        assert mine.optimizer is not None and reference.optimizer is not None
        for p, q in zip(mine.params, reference.params, strict=True):
            r_state = reference.optimizer.state.get(q, {})
            try:
                t_state = mine.optimizer.state.get(p, {})
            except Exception:
                t_state = None
            if not isinstance(t_state, Mapping):
                layout.notes.append("the target's optimizer.state is not a mapping")
                return layout
            if r_state and not t_state:
                no_state += 1
            target_keys.update(dict.fromkeys(map(str, t_state)))
            torch_keys.update(dict.fromkeys(map(str, r_state)))
            for key in r_state:
                if key in t_state and key not in observed:
                    observed[str(key)] = (t_state[key], r_state[key])
    if not probed:
        return layout
    layout.target_keys, layout.torch_keys = list(target_keys), list(torch_keys)
    for key, (mine_v, ref_v) in observed.items():
        if isinstance(mine_v, torch.Tensor) and isinstance(ref_v, torch.Tensor):
            if mine_v.shape != ref_v.shape:
                layout.hidden[key] = (
                    f"shape {tuple(mine_v.shape)} where torch has {tuple(ref_v.shape)}"
                )
            continue
        if _is_number(mine_v) and isinstance(ref_v, torch.Tensor) and ref_v.numel() == 1:
            layout.coerce[key] = "tensor"
        elif isinstance(mine_v, torch.Tensor) and mine_v.numel() == 1 and _is_number(ref_v):
            layout.coerce[key] = "number"
        elif (mine_v is None) != (ref_v is None) or (
            type(mine_v) is not type(ref_v) and not (_is_number(mine_v) and _is_number(ref_v))
        ):
            layout.hidden[key] = (
                f"{_describe_value(mine_v)} where torch has {_describe_value(ref_v)}"
            )
    for key in layout.coerce:
        t_v, r_v = observed[key]
        layout.notes.append(
            f"state[{key!r}] is {_describe_value(t_v)} where torch keeps {_describe_value(r_v)}: "
            "compared by value"
        )
    for key, why in layout.hidden.items():
        layout.notes.append(f"state[{key!r}] not compared: {why}")
    only_torch = [k for k in layout.torch_keys if k not in target_keys]
    only_target = [k for k in layout.target_keys if k not in torch_keys]
    if no_state and not layout.target_keys:
        layout.notes.append(
            "the target keeps no state under its parameters (optimizer.state[p]): state is "
            f"not compared ({', '.join(layout.torch_keys)}); parameters are, after every step"
        )
    else:
        if only_torch:
            layout.notes.append(f"state keys torch keeps and the target does not: {only_torch}")
        if only_target:
            layout.notes.append(f"state keys only the target keeps: {only_target}")
    return layout


def lenient(cls: type, layout: Layout) -> type:
    """``cls`` seen through a state view that applies ``layout`` (coercions, hidden keys).

    Everything else (construction, ``step``, ``param_groups``, ``state_dict``) is the
    target's own: the wrapper only changes what the comparison reads.
    """
    coerce, hidden = dict(layout.coerce), frozenset(layout.hidden)

    def convert(key: str, value: Any) -> Any:
        how = coerce.get(key)
        if how == "tensor" and _is_number(value):
            return torch.tensor(float(value), dtype=torch.float64)
        if how == "number" and isinstance(value, torch.Tensor) and value.numel() == 1:
            return float(value.item())
        return value

    class StateView(Mapping[Any, Any]):
        def __init__(self, state: Any) -> None:
            self._state = state

        def __getitem__(self, p: Any) -> dict[str, Any]:
            entry = self._state[p]
            if not isinstance(entry, Mapping):
                return {}
            return {k: convert(str(k), v) for k, v in entry.items() if str(k) not in hidden}

        def get(self, p: Any, default: Any = None) -> Any:
            try:
                return self[p] if p in self._state else default
            except Exception:
                return default

        def __iter__(self) -> Iterator[Any]:
            return iter(self._state)

        def __len__(self) -> int:
            return len(self._state)

    class Lenient:
        __signature__ = inspect.signature(cls)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            object.__setattr__(self, "_inner", cls(*args, **kwargs))

        @property
        def state(self) -> StateView:
            return StateView(self._inner.state)

        def __getattr__(self, name: str) -> Any:
            return getattr(object.__getattribute__(self, "_inner"), name)

    Lenient.__name__, Lenient.__qualname__ = cls.__name__, cls.__qualname__
    Lenient.__module__ = cls.__module__
    return Lenient
