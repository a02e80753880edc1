"""Compare two values under a tolerance: the lock-step harness's test of agreement.

Tensors are compared elementwise in float64 (complex ones by their real view), under the
NaN/inf rules of :class:`~optverify.properties.tolerances.Tol`: ``|a - e| <= atol + rtol *
scale``, where the scale is the larger magnitude of the two values (and of the reference's
value before the step, when given); numbers, and lists of them, by value; anything else by
``==``. :func:`same_bits` is the bit-for-bit test the recorder and the verdict model share.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optverify.properties.tolerances import Tol

__all__ = ["TolFor", "compare_values", "same_bits"]

#: Gives the tolerance for one compared tensor's dtype.
TolFor = Callable[[torch.dtype], Tol]


def _mismatch_sizes(
    a: Tensor, e: Tensor, tol: Tol, before: Tensor | None = None
) -> tuple[bool, float, float]:
    """(agree, max abs err, max rel err) under the NaN/inf rules of ``tolerances``.

    The relative tolerance scales with the larger of ``|a|``, ``|e|`` and, when given, the
    reference's value ``before`` the step: an update ``x - u`` that cancels to nearly zero
    carries rounding errors of the size of ``x``, not of the result.
    """
    if a.is_complex():
        a, e = torch.view_as_real(a), torch.view_as_real(e)
        before = torch.view_as_real(before) if before is not None else None
    a64, e64 = a.detach().to("cpu", torch.float64), e.detach().to("cpu", torch.float64)
    nan_a, nan_e = a64.isnan(), e64.isnan()
    inf_a, inf_e = a64.isinf(), e64.isinf()
    if tol.same_nonfinite_kind:
        same_special = torch.equal(nan_a, nan_e) and torch.equal(inf_a, inf_e)
        same_special = same_special and torch.equal(a64[inf_a], e64[inf_e])
    else:
        same_special = torch.equal(nan_a | inf_a, nan_e | inf_e)
    finite = ~(nan_a | nan_e | inf_a | inf_e)
    diff = (a64 - e64).abs()[finite]
    magnitude = torch.maximum(a64.abs(), e64.abs())
    if before is not None and before.shape == a.shape and tol.rtol > 0:
        b64 = before.detach().to("cpu", torch.float64).abs()
        magnitude = torch.maximum(magnitude, torch.nan_to_num(b64, nan=0.0, posinf=0.0))
    scale = magnitude[finite]
    max_abs = float(diff.max()) if diff.numel() else 0.0
    rel = diff / scale.clamp_min(torch.finfo(torch.float64).tiny)
    max_rel = float(rel[diff > 0].max()) if bool((diff > 0).any()) else 0.0
    within = bool((diff <= tol.atol + tol.rtol * scale).all())
    if not same_special:
        max_abs = max_rel = math.inf
    return same_special and within, max_abs, max_rel


def compare_values(
    actual: Any, expected: Any, tol_for: TolFor, before: Any = None
) -> tuple[bool, float, float, str]:
    """Compare two state values (tensors, numbers, or lists of them).

    ``before`` is the reference's value before the step (it widens the relative scale, see
    :func:`_mismatch_sizes`). Returns ``(agree, max_abs, max_rel, reason)``.
    """
    if not isinstance(before, Tensor) or before.is_sparse:
        before = None
    if isinstance(expected, Tensor) or isinstance(actual, Tensor):
        if not (isinstance(expected, Tensor) and isinstance(actual, Tensor)):
            return False, math.nan, math.nan, f"type {type(actual).__name__} != Tensor"
        if actual.is_sparse or expected.is_sparse:
            actual, expected = actual.to_dense(), expected.to_dense()
        if actual.shape != expected.shape:
            return (
                False,
                math.nan,
                math.nan,
                f"shape {tuple(actual.shape)} != {tuple(expected.shape)}",
            )
        if actual.dtype != expected.dtype:
            # Compare values anyway (anyone's class may keep state in another dtype); the
            # exact state layout of our own classes is a separate property.
            tol = tol_for(expected.dtype)
            ok, mabs, mrel = _mismatch_sizes(actual.to(expected.dtype), expected, tol, before)
            return ok, mabs, mrel, "" if ok else "values differ"
        ok, mabs, mrel = _mismatch_sizes(actual, expected, tol_for(expected.dtype), before)
        return ok, mabs, mrel, "" if ok else "values differ"
    if isinstance(expected, (list, tuple)) and isinstance(actual, (list, tuple)):
        if len(actual) != len(expected):
            return False, math.nan, math.nan, f"length {len(actual)} != {len(expected)}"
        worst = (True, 0.0, 0.0, "")
        for a, e in zip(actual, expected, strict=True):
            ok, mabs, mrel, why = compare_values(a, e, tol_for)
            if not ok:
                return ok, mabs, mrel, why
            worst = (True, max(worst[1], mabs), max(worst[2], mrel), "")
        return worst
    if isinstance(expected, float) and isinstance(actual, (int, float)):
        both_nan = math.isnan(expected) and math.isnan(float(actual))
        ok = both_nan or float(actual) == expected
        err = 0.0 if ok else abs(float(actual) - expected)
        return ok, err, err, "" if ok else f"{actual!r} != {expected!r}"
    ok = actual == expected
    return bool(ok), math.nan, math.nan, "" if ok else f"{actual!r} != {expected!r}"


def same_bits(a: Tensor, b: Tensor) -> bool:
    """Bit for bit equal (NaN equal to NaN; sparse compared dense; complex by parts)."""
    if a.is_sparse or b.is_sparse:
        a, b = a.to_dense(), b.to_dense()
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_complex():
        a, b = torch.view_as_real(a), torch.view_as_real(b)
    return bool(((a == b) | (a.isnan() & b.isnan())).all())
