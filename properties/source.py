"""Python source that rebuilds tensors, hyperparameters and whole problems exactly.

Counterexamples are printed, and written as repro scripts, in this form: ``nan``/``inf`` come
from ``math``, every float is ``repr``'s shortest exact form, complex tensors are rebuilt
from their parts, and non-contiguous parameters keep their layout (``Problem.layouts``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from optverify.properties.harness import Problem

__all__ = ["grad_code", "hyper_code", "problem_code", "tensor_code", "value_code"]


def _fmt_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def tensor_code(t: Tensor) -> str:
    """Python source that rebuilds ``t`` exactly (``nan``/``inf`` from ``math``)."""
    dtype = str(t.dtype)
    if not (t.dtype.is_floating_point or t.is_complex()):
        return f"torch.tensor({t.detach().cpu().tolist()!r}, dtype={dtype})"
    if t.numel() == 0:
        return f"torch.zeros({tuple(t.shape)!r}, dtype={dtype})"
    if t.is_complex():
        real = tensor_code(t.real.to(torch.float64))
        imag = tensor_code(t.imag.to(torch.float64))
        return f"torch.complex({real}, {imag}).to({dtype})"

    def nested(v: Any) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(nested(x) for x in v) + "]"
        return _fmt_float(float(v))

    values = nested(t.detach().cpu().to(torch.float64).tolist())
    device = "" if t.device.type == "cpu" else f", device={str(t.device)!r}"
    return f"torch.tensor({values}, dtype={dtype}{device})"


def grad_code(g: Tensor) -> str:
    """Source for a gradient (sparse COO gradients keep their indices and values)."""
    if g.is_sparse:
        g = g.coalesce() if not g.is_coalesced() else g
        return (
            f"torch.sparse_coo_tensor({tensor_code(g.indices())}, {tensor_code(g.values())}, "
            f"{tuple(g.shape)!r})"
        )
    return tensor_code(g)


def value_code(v: Any) -> str:
    """Python source for a hyperparameter value."""
    if isinstance(v, Tensor):
        return tensor_code(v)
    if isinstance(v, float):
        return _fmt_float(v)
    if isinstance(v, tuple):
        inner = ", ".join(value_code(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return repr(v)


def hyper_code(hyper: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k!r}: {value_code(v)}" for k, v in hyper.items()) + "}"


def problem_code(problem: Problem) -> str:
    """Python source (with ``from math import inf, nan``) that rebuilds ``problem``."""
    lines = ["Problem("]
    lines.append("    params=(" + "".join(f"\n        {tensor_code(p)}," for p in problem.params))
    lines.append("    ),")
    lines.append(f"    groups={problem.groups!r},")
    lines.append("    hyper=(" + "".join(f"\n        {hyper_code(h)}," for h in problem.hyper))
    lines.append("    ),")
    lines.append("    grads=(")
    for row in problem.grads:
        cells = ", ".join("None" if g is None else grad_code(g) for g in row)
        lines.append(f"        ({cells},),")
    lines.append("    ),")
    if problem.schedule:
        items = ", ".join(
            f"{k}: (" + "".join(hyper_code(h) + ", " for h in changes) + ")"
            for k, changes in problem.schedule.items()
        )
        lines.append(f"    schedule={{{items}}},")
    if problem.named:
        lines.append("    named=True,")
    if problem.steps is not None:
        lines.append(f"    steps={problem.steps},")
    if problem.reload_at is not None:
        lines.append(f"    reload_at={problem.reload_at},")
    if problem.layouts:
        lines.append(f"    layouts={problem.layouts!r},")
    lines.append(")")
    return "\n".join(lines)
