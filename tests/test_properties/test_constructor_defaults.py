"""The constructor defaults of every optimiser of this package are torch's.

A default is part of the behaviour a user gets from ``Adam(params)``; the conformance
property draws hyperparameters explicitly, so a changed default (SparseAdam's ``eps``,
LBFGS's ``history_size``) would go unnoticed there. Compared: the signature (names, order,
kinds, defaults, with their types: ``0`` is not ``0.0``) and what a constructor called with
the parameters alone stores in ``defaults`` and in ``param_groups[0]``.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import torch
from torch.optim import Optimizer

from optverify import optimizers
from tests._support import NAMES, spec


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (tuples element by element)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and torch.equal(a, b)
        )
    return type(a) is type(b) and bool(a == b)


def _signature(cls: type[Optimizer]) -> list[tuple[str, Any, Any]]:
    return [(n, p.kind, p.default) for n, p in inspect.signature(cls).parameters.items()]


def _group(cls: type[Optimizer], **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``defaults`` and the first param group (less its parameters) of a fresh optimiser."""
    opt = cls([torch.zeros(2, 2, requires_grad=True)], **kwargs)
    group = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    return dict(opt.defaults), group


def default_differences(ours: type[Optimizer], reference: type[Optimizer]) -> list[str]:
    """Every way ``ours``'s constructor defaults differ from ``reference``'s (empty: none)."""
    found: list[str] = []
    mine, theirs = _signature(ours), _signature(reference)
    if [n for n, _, _ in mine] != [n for n, _, _ in theirs]:
        found.append(f"parameters {[n for n, _, _ in mine]} != {[n for n, _, _ in theirs]}")
    ref = {n: (kind, default) for n, kind, default in theirs}
    for name, kind, default in mine:
        if name not in ref:
            continue
        if kind != ref[name][0]:
            found.append(f"{name}: {kind} != {ref[name][0]}")
        if not _same(default, ref[name][1]):
            found.append(f"signature default {name}={default!r} != {ref[name][1]!r}")
    for what, a, b in zip(("defaults", "param_groups[0]"), _group(ours), _group(reference),
                          strict=True):  # fmt: skip
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b or not _same(a[key], b[key]):
                found.append(f"{what}[{key!r}] = {a.get(key, '<missing>')!r} != "
                             f"{b.get(key, '<missing>')!r}")  # fmt: skip
    return found


def test_all_fifteen_are_compared() -> None:
    assert len(NAMES) == 15


@pytest.mark.parametrize("name", NAMES)
def test_constructor_defaults_are_torchs(name: str) -> None:
    assert default_differences(spec(name).ours, spec(name).reference) == []


def test_lbfgs_derives_max_eval_as_torch_does() -> None:
    """``max_eval=None`` means ``max_iter * 5 // 4``: a derived default."""
    for max_iter in (1, 4, 8, 21):
        ours = _group(optimizers.LBFGS, max_iter=max_iter)[1]["max_eval"]
        theirs = _group(torch.optim.LBFGS, max_iter=max_iter)[1]["max_eval"]
        assert ours == theirs == max_iter * 5 // 4


# --- the test can fail --------------------------------------------------------------------


class SparseAdamEps(optimizers.SparseAdam):
    def __init__(self, params: Any, lr: float = 1e-3, betas: Any = (0.9, 0.999),
                 eps: float = 1e-7, maximize: bool = False) -> None:  # fmt: skip
        super().__init__(params, lr=lr, betas=betas, eps=eps, maximize=maximize)


class LBFGSHistory(optimizers.LBFGS):
    """Same signature as torch's; passes another history_size on (only the stored
    defaults show it)."""

    def __init__(self, params: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(params, *args, **{**kwargs, "history_size": 10})


LBFGSHistory.__init__.__signature__ = inspect.signature(torch.optim.LBFGS)  # type: ignore[attr-defined]


class SGDFloatMomentum(optimizers.SGD):
    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(params, lr=lr, momentum=momentum, **kwargs)


@pytest.mark.parametrize(
    ("changed", "name", "expected"),
    [
        (SparseAdamEps, "SparseAdam", "signature default eps=1e-07 != 1e-08"),
        (LBFGSHistory, "LBFGS", "defaults['history_size'] = 10 != 100"),
        (SGDFloatMomentum, "SGD", "signature default momentum=0.0 != 0"),
    ],
    ids=["SparseAdam-eps", "LBFGS-history_size", "SGD-momentum-type"],
)
def test_a_changed_default_is_caught(changed: type[Optimizer], name: str, expected: str) -> None:
    found = default_differences(changed, spec(name).reference)
    assert expected in found, found
