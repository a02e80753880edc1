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

__all__ = [
    "BUDGETS",
    "CONDITIONING",
    "EXACT",
    "EXACT_EXCEPTIONS",
    "FAITHFUL",
    "ILL_POSED",
    "Budget",
    "Tol",
    "budget",
    "exact",
    "faithful",
    "real_dtype",
]


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


class Budget(NamedTuple):
    """The verdict model's error budget for one dtype (:mod:`optverify.properties.verdict`):
    a target's error against the oracle may reach ``factor`` times torch's worst error at the
    same element plus ``ulps`` units of roundoff of the dtype times the scale of the
    computation per step taken."""

    factor: float
    ulps: float
    evidence: str


#: The budgets, per real dtype (complex uses its component's). ``factor`` 4: a target may be
#: four times as far from the maths as torch's for-loop where torch itself is far (a float32
#: tensor lr, low precision). ``ulps`` 8 per step: measured by
#: ``tests/test_properties/test_budgets.py`` (torch's foreach paths of SGD, Adam, Adagrad,
#: RMSprop and NAdam judged against their for-loop and the float64 oracle, 40 derandomized
#: examples each on the default coverage, torch 2.13 CPU), the largest term a correct
#: implementation needed was 3.63 (float64, NAdam), 3.35 (float32, NAdam), 3.44 (bfloat16,
#: RMSprop) and 3.69 (float16, RMSprop): 8 leaves twice that, and sits far below what a
#: real defect costs (a misplaced ε or an off-by-one bias correction: thousands of units).
BUDGETS: dict[torch.dtype, Budget] = {
    torch.float64: Budget(4.0, 8.0, "measured 3.63 (NAdam foreach): see test_budgets.py"),
    torch.float32: Budget(4.0, 8.0, "measured 3.35 (NAdam foreach): see test_budgets.py"),
    torch.bfloat16: Budget(4.0, 8.0, "measured 3.44 (RMSprop foreach): see test_budgets.py"),
    torch.float16: Budget(4.0, 8.0, "measured 3.69 (RMSprop foreach): see test_budgets.py"),
}


#: How far a target may be from the maths, as a multiple of the distance of torch's for-loop
#: nudged by an ulp (``record(..., nudge=...)``: the parameters before the first step and
#: after each, or one state entry after each step, one run per quantity): the allowance for
#: a problem that amplifies the rounding of what a step leaves behind (L2 decay g + λθ that
#: cancels, then a division by |g + λθ|). Applied as ``CONDITIONING · e_nudged`` only where
#: the nudge moves a value farther than the budget (the value is ill-conditioned), and only
#: asked for where a value is outside the budget: on a well-conditioned step the nudge moves
#: a value by ~2-4 units, inside the ``ulps`` term, and the budget stays as it is.
#: Measured: a textbook Adam with λ = 1, ε = 0, β2 = 0 (tests/check_targets/textbook.py)
#: lands 80 units from the maths where the nudged for-loop lands 37, and with λ = 0.24,
#: β1 = 0.99 over four float32 steps 98.7 where it lands 16.5: hence 8. A cancellation
#: inside one step (centered RMSprop's v - m² formed from two roundings, as optax does) is
#: not reached by nudging what a step leaves behind: with float64 parameters,
#: whose oracle is torch's own for-loop, it stays a finding (tests/test_adapters).
CONDITIONING = 8.0

#: A value the nudged runs move by more than this fraction of its scale is ill-posed: one
#: ulp of rounding a step leaves fewer than two significant digits (a chaotic run: Adam with
#: λ = 1, lr 0.625, ε = 0 over 260 float64 steps, where the nudged for-loop ends 1.4 % of
#: the scale from the maths). Its finiteness and non-finite kind are still compared; its
#: digits are not. Where torch's own implementations are that far from the maths (the dtype
#: cannot carry the computation: float16 Adam with β₂ = 0.9999999 steps θ to 58400 where the
#: maths gives -0.18, seed 0 of test_stability.py), a target's overflow is not judged either.
#: Conditioning belongs to the step, not to one element (the nudge is one draw of rounding,
#: a target's own rounding another): every element of a value gets the largest amplification
#: the nudge shows anywhere in it (Adam on complex128, λ = 0.87, β₂ = 0: a target element 83
#: times farther from torch than the nudge there, 589 units where the nudge reaches 1500
#: elsewhere), and a value the nudge moves beyond ILL_POSED at any element is ill-posed as a
#: whole (textbook Adam over 260 float32 steps, λ = 1, ε = 0: its second moment 22 % of the
#: scale from the maths at an element the nudge moves by less than 1 %, where it moves others
#: by 238 %; float16 Adagrad, lr_decay 1: 83 % of the elements beyond 1 %, the target 10 % off
#: at one of the others).
ILL_POSED = 0.01


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype of ``dtype``'s components (complex64 -> float32)."""
    return {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)


_real = real_dtype


def budget(dtype: torch.dtype) -> Budget:
    """The verdict model's budget for values of ``dtype`` (integers: the float64 one)."""
    return BUDGETS.get(real_dtype(dtype), BUDGETS[torch.float64])


def exact(dtype: torch.dtype, optimiser: str | None = None) -> Tol:
    """The exact-mode tolerance (zero, unless a documented exception applies)."""
    if optimiser is not None and (optimiser, _real(dtype)) in EXACT_EXCEPTIONS:
        return EXACT_EXCEPTIONS[(optimiser, _real(dtype))][0]
    return EXACT


def faithful(dtype: torch.dtype) -> Tol:
    """The faithful-mode tolerance for ``dtype`` (complex uses its real component's)."""
    return FAITHFUL[_real(dtype)]
