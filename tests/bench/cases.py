"""What the per-step benchmarks time: optimisers x implementations x sizes.

A *case* is one optimiser configuration (torch's defaults, ``lr = 1e-3``; SGD twice, plain
and with momentum) with the bytes of float32 memory traffic one element needs at least
(:attr:`Case.bytes_per_element`): every tensor the rule reads once plus every tensor it
writes once. The bandwidth *floor* of a step is that many bytes per element divided by the
bandwidth of the reference ``a.add_(b, alpha=s)`` (12 bytes per element) timed in the same
run on the same sizes.

Sizes: the synthetic ones (:data:`SIZES`: one vector of 1e4, 1e6, 1e7 elements, 200
vectors of 5 000) and the parameter lists of two real models (:data:`MODEL_SIZES`:
``resnet50``, ``gpt2``; see :mod:`tests.bench.models`), which are timed only by the
interleaved runner (:mod:`tests.bench.interleave`), never in the smoke tests. Muon takes
matrices, SparseAdam sparse gradients (a tenth of the rows, or GPT-2's embeddings with 1 024
token rows) and LBFGS a closure (:func:`make_closure`): their sizes are their own.

Implementations: ``ours`` (the readable class), ``ours-multi`` (``optimizers.fast.X``),
``ours-compiled`` (``optimizers.fast.CompiledX``, timed runs only), and torch's
``torch-forloop``, ``torch-foreach`` and ``torch-fused`` where torch has them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optverify.optimizers import fast
from optverify.properties.conformance import mode_kwargs
from optverify.properties.specs import SPECS
from tests.bench.models import MODELS

__all__ = [
    "CASES",
    "IMPLS",
    "MODEL_SIZES",
    "SIZES",
    "Case",
    "make_closure",
    "make_grads",
    "make_optimizer",
    "shapes_for",
]

#: size label -> the parameter shapes of one param group (float32)
SIZES: dict[str, list[tuple[int, ...]]] = {
    "1e4": [(10_000,)],
    "1e6": [(1_000_000,)],
    "1e7": [(10_000_000,)],
    "200x5000": [(5_000,)] * 200,
}

#: size label -> a real model's parameter shapes (timed by the interleaved runner only)
MODEL_SIZES: dict[str, list[tuple[int, ...]]] = dict(MODELS)

#: Muon needs matrices, and its Newton-Schulz products make 1e6/1e7 steps take seconds; of
#: the models only ResNet-50's classifier (torch's Muon takes 2-D parameters only; GPT-2's 48
#: block matrices cost ~1 TFLOP of products per step, tens of seconds on one thread)
_MUON_SIZES: dict[str, list[tuple[int, ...]]] = {
    "1e4": [(100, 100)],
    "200x5000": [(50, 100)] * 200,
    "resnet50": [s for s in MODELS["resnet50"] if len(s) == 2],
}

#: SparseAdam: matrices of 100 columns whose gradients touch a tenth of the rows; on GPT-2
#: the token and position embeddings (1 024 token rows and every position row touched)
_SPARSE_SIZES: dict[str, list[tuple[int, ...]]] = {
    "1e4": [(100, 100)],
    "1e6": [(10_000, 100)],
    "1e7": [(100_000, 100)],
    "200x5000": [(50, 100)] * 200,
    "gpt2": MODELS["gpt2"][:2],
}

#: LBFGS keeps ``history_size`` pairs of flat vectors: on GPT-2 (0.5 GB each) two
#: implementations side by side would not fit a shared 24 GB machine
_LBFGS_SIZES = {**SIZES, "resnet50": MODELS["resnet50"]}

_OWN_SIZES = {"Muon": _MUON_SIZES, "SparseAdam": _SPARSE_SIZES, "LBFGS": _LBFGS_SIZES}

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
        return list(_OWN_SIZES.get(self.torch_name, {**SIZES, **MODEL_SIZES}))

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
            32,
            "vector: two passes at least (both norms are global): reads theta, g, V twice, "
            "writes theta, V; a single pass (20 B) cannot be exact",
        ),
        Case("Muon", "Muon", {"lr": 1e-3}, None, "Newton-Schulz matrix products"),
        Case("SparseAdam", "SparseAdam", {"lr": 1e-3}, None, "sparse rows: no floor"),
        Case(
            "LBFGS",
            "LBFGS",
            {"lr": 1e-3, "max_iter": 4, "history_size": 4},
            None,
            "4 iterations, closure = a quadratic (its cost is in both times)",
        ),
    ]
}


def shapes_for(case: Case, size: str) -> list[tuple[int, ...]]:
    """The parameter shapes of ``case`` at ``size``."""
    return _OWN_SIZES.get(case.torch_name, {**SIZES, **MODEL_SIZES})[size]


def make_grads(case: Case, params: list[Tensor], seed: int = 1) -> list[Tensor]:
    """Fixed gradients for ``params``: dense normal ones, or (SparseAdam) sparse COO rows."""
    gen = torch.Generator().manual_seed(seed)
    if case.torch_name != "SparseAdam":
        return [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    out = []
    for p in params:
        rows = p.shape[0]
        touched = min(rows, 1024) if rows > 10_000 and p.shape[1] > 100 else max(rows // 10, 1)
        index = torch.randperm(rows, generator=gen)[:touched].sort().values
        values = torch.randn((touched, *p.shape[1:]), generator=gen, dtype=p.dtype)
        out.append(
            torch.sparse_coo_tensor(index[None], values, p.shape, check_invariants=True).coalesce()
        )
    return out


def make_closure(
    case: Case, params: list[Tensor], grads: list[Tensor]
) -> Callable[[], Tensor] | None:
    """LBFGS's closure: the loss ``sum(p * p / 2 + c * p)`` and its gradient ``p + c``
    written into ``p.grad`` (no autograd graph: a pass over memory like an optimiser's);
    ``None`` for the other cases."""
    if case.torch_name != "LBFGS":
        return None
    shifts = [g.clone() for g in grads]

    def closure() -> Tensor:
        with torch.no_grad():
            for p, c in zip(params, shifts, strict=True):
                if p.grad is None:
                    p.grad = torch.empty_like(p)
                torch.add(p, c, out=p.grad)
            half = torch._foreach_add(torch._foreach_mul(params, 0.5), shifts)
            dots = [torch.dot(h.view(-1), p.view(-1)) for h, p in zip(half, params, strict=True)]
            return torch.stack(dots).sum()

    return closure


def numel(shapes: list[tuple[int, ...]]) -> int:
    """The number of elements of a shape list."""
    return sum(math.prod(s) for s in shapes)


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
