"""Every tolerance of the project, in one place, each with its justification.

Two modes (``../shared/DESIGN.md``, tolerances):

* **exact** — ours mirrors the operation order of torch's for-loop path, so ours against
  ``foreach=False`` must be bit-for-bit equal: ``rtol = atol = 0``, NaN equal to NaN,
  infinities equal with their sign. Any exception is listed in :data:`EXACT_EXCEPTIONS`
  with the measured error and its cause.
* **faithful** — for implementations with another operation order (torch's foreach and
  fused paths, anyone's class under ``optverify check``): an algebraically equivalent
  implementation must pass, and a misplaced ε (1e-8) or an off-by-one bias correction must
  fail. float64 is the oracle dtype for that distinction: its bound (1e-12 relative) sits
  four orders of magnitude below the relative effect of moving ε = 1e-8 across a square
  root for gradients of order 1e-4 and below, which the strategies draw often.

An element ``a`` of the target agrees with ``e`` of the reference when both are NaN, or both
are the same infinity (faithful mode: both are non-finite, since a reordered expression may
turn ``inf - inf`` into NaN where the original keeps ``inf``), or
``|a - e| <= atol + rtol * max(|a|, |e|)``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

__all__ = ["EXACT", "EXACT_EXCEPTIONS", "FAITHFUL", "Tol", "exact", "faithful"]


class Tol(NamedTuple):
    rtol: float
    atol: float
    #: NaN must meet NaN and inf the same inf; otherwise any non-finite meets any non-finite
    same_nonfinite_kind: bool = True


#: Bit-exact agreement: the contract when we mirror torch's for-loop operation order.
EXACT = Tol(0.0, 0.0)

#: Faithful agreement per dtype, relative to the larger magnitude of the two elements.
FAITHFUL: dict[torch.dtype, Tol] = {
    # A reordered float64 step differs by a few ulps (2.2e-16) per operation; over the
    # hundreds of steps of the long-run property that stays below 1e-12 relative
    # (measured for torch's fused Adam against its for-loop: <= 1.1e-16 after 10 steps).
    torch.float64: Tol(rtol=1e-12, atol=1e-300, same_nonfinite_kind=False),
    # float32 ulp is 1.2e-7; a reordered step drifts by a few ulps and the drift is
    # amplified by division by sqrt(v) (measured: fused SGD-nesterov 1.2e-7, fused
    # Adagrad 2.4e-7 after 10 steps) and accumulates in an EMA with beta near 1 over long
    # runs (measured: textbook-order Adam's exp_avg 1.7e-5 relative after 140 steps).
    torch.float32: Tol(rtol=1e-4, atol=1e-30, same_nonfinite_kind=False),
    # bfloat16 has 8 significant bits (ulp 7.8e-3): one rounding flips the last bit.
    torch.bfloat16: Tol(rtol=3e-2, atol=1e-30, same_nonfinite_kind=False),
    # float16 has 11 significant bits (ulp 9.8e-4); subnormals start at 6e-8.
    torch.float16: Tol(rtol=4e-3, atol=1e-7, same_nonfinite_kind=False),
}

#: Documented exceptions to exact mode: ``(optimiser, dtype) -> (Tol, evidence)``.
#: Empty: every optimiser of this package agrees bit-for-bit with torch's for-loop path.
EXACT_EXCEPTIONS: dict[tuple[str, torch.dtype], tuple[Tol, str]] = {}


def _real(dtype: torch.dtype) -> torch.dtype:
    return {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)


def exact(dtype: torch.dtype, optimiser: str | None = None) -> Tol:
    """The exact-mode tolerance (zero, unless a documented exception applies)."""
    if optimiser is not None and (optimiser, _real(dtype)) in EXACT_EXCEPTIONS:
        return EXACT_EXCEPTIONS[(optimiser, _real(dtype))][0]
    return EXACT


def faithful(dtype: torch.dtype) -> Tol:
    """The faithful-mode tolerance for ``dtype`` (complex uses its real component's)."""
    return FAITHFUL[_real(dtype)]
