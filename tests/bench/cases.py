"""What the per-step benchmarks time: optimisers x implementations x sizes.

A *case* is one optimiser configuration (torch's defaults, ``lr = 1e-3``; SGD twice, plain
and with momentum) with the bytes of float32 memory traffic one element needs at least
(:attr:`Case.bytes_per_element`): every tensor the rule reads once plus every tensor it
writes once. The bandwidth *floor* of a step is that many bytes per element divided by the
bandwidth of the reference ``a.add_(b, alpha=s)`` (12 bytes per element) timed in the same
run on the same sizes.

Implementations: ``ours`` (the readable class), ``ours-multi`` (``optimizers.fast.X``),
``ours-compiled`` (``optimizers.fast.CompiledX``, timed runs only), and torch's
``torch-forloop``, ``torch-foreach`` and ``torch-fused`` where torch has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim import Optimizer

from optimizers import fast
from properties.conformance import mode_kwargs
from properties.specs import SPECS

__all__ = ["CASES", "IMPLS", "SIZES", "Case", "make_optimizer", "shapes_for"]

#: size label -> the parameter shapes of one param group (float32)
SIZES: dict[str, list[tuple[int, ...]]] = {
    "1e4": [(10_000,)],
    "1e6": [(1_000_000,)],
    "1e7": [(10_000_000,)],
    "200x5000": [(5_000,)] * 200,
}

#: Muon needs matrices, and its Newton-Schulz products make 1e6/1e7 steps take seconds
_MUON_SIZES: dict[str, list[tuple[int, ...]]] = {
    "1e4": [(100, 100)],
    "200x5000": [(50, 100)] * 200,
}

IMPLS = ("ours", "ours-multi", "ours-compiled", "torch-forloop", "torch-foreach", "torch-fused")


@dataclass(frozen=True)
class Case:
    """One benchmarked optimiser configuration."""

    name: str  # the row label
    torch_name: str  # torch.optim.<torch_name>
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: float32 bytes per element a single pass must move (reads + writes), None: not
    #: memory-bound (matrix products), so no floor is reported
    bytes_per_element: int | None = 28
    note: str = ""

    @property
    def sizes(self) -> list[str]:
        return list(_MUON_SIZES if self.torch_name == "Muon" else SIZES)

    def impls(self) -> list[str]:
        """The implementations that exist for this case."""
        out = ["ours"]
        if self.torch_name in fast.FAST:
            out += ["ours-multi", "ours-compiled"]
        out += [f"torch-{mode}" for mode in SPECS[self.torch_name].modes]
        return out


CASES: dict[str, Case] = {
    c.name: c
    for c in [
        Case("SGD", "SGD", {"lr": 1e-3}, 12, "reads theta, g; writes theta"),
        Case("SGD-momentum", "SGD", {"lr": 1e-3, "momentum": 0.9}, 20, "+ b read and written"),
        Case("Adam", "Adam", {"lr": 1e-3}, 28, "reads theta, g, m, v; writes theta, m, v"),
        Case("AdamW", "AdamW", {"lr": 1e-3}, 28, "decay fused into the same pass"),
        Case("Adagrad", "Adagrad", {"lr": 1e-3}, 20, "reads theta, g, s; writes theta, s"),
        Case("Adadelta", "Adadelta", {"lr": 1e-3}, 28, "reads theta, g, v, u; writes 3"),
        Case("RMSprop", "RMSprop", {"lr": 1e-3}, 20, "reads theta, g, v; writes theta, v"),
        Case("Adamax", "Adamax", {"lr": 1e-3}, 28, "reads theta, g, m, u; writes 3"),
        Case("NAdam", "NAdam", {"lr": 1e-3}, 28, "reads theta, g, m, v; writes 3"),
        Case("RAdam", "RAdam", {"lr": 1e-3}, 28, "reads theta, g, m, v; writes 3"),
        Case("ASGD", "ASGD", {"lr": 1e-3}, 20, "reads theta, g, ax; writes theta, ax"),
        Case("Rprop", "Rprop", {"lr": 1e-3}, 28, "reads theta, g, prev, Delta; writes 3"),
        Case(
            "Adafactor",
            "Adafactor",
            {"lr": 1e-3},
            20,
            "vector: reads theta, g, V; writes theta, V (its norms need more passes)",
        ),
        Case("Muon", "Muon", {"lr": 1e-3}, None, "Newton-Schulz matrix products"),
    ]
}


def shapes_for(case: Case, size: str) -> list[tuple[int, ...]]:
    return (_MUON_SIZES if case.torch_name == "Muon" else SIZES)[size]


def make_optimizer(case: Case, impl: str, params: list[torch.Tensor]) -> Optimizer:
    """``impl``'s optimiser for ``case`` over ``params``."""
    if impl == "ours":
        return SPECS[case.torch_name].ours(params, **case.kwargs)
    if impl == "ours-multi":
        return fast.FAST[case.torch_name](params, **case.kwargs)
    if impl == "ours-compiled":
        return fast.COMPILED[case.torch_name](params, **case.kwargs)
    if impl.startswith("torch-"):
        spec = SPECS[case.torch_name]
        extra = mode_kwargs(spec, impl.removeprefix("torch-"))  # those torch's class accepts
        return spec.reference(params, **case.kwargs, **extra)
    raise ValueError(f"unknown implementation {impl!r}")
