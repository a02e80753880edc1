r"""How far from the exact maths one value may be: the runs it is read from, its scale, its
unit roundoff, and the problem's conditioning.

For element :math:`i` of a value at the 0-based step :math:`k`,

.. math::

    \text{allowed}_i = F\,e_{\tau,i} + K\,u\,s_i\,(k + 1),

where :math:`e_\tau` is torch's largest distance from the maths, :math:`u` the unit roundoff
(:func:`operand_unit`: that of the narrowest operand), :math:`s` the scale of the computation
(:func:`scale_of`) and :math:`F, K` the dtype's
:data:`~optverify.properties.tolerances.BUDGETS`. Where the problem amplifies rounding
beyond that, torch's for-loop nudged by an ulp a step shows by how much (:func:`condition`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from optverify.properties import tolerances
from optverify.properties.harness import Problem
from optverify.properties.trajectory import Snapshot, Trajectory

__all__ = [
    "Runs",
    "as_tensor",
    "condition",
    "grow",
    "operand_unit",
    "real_view",
    "scale_of",
    "unit",
    "value_of",
]


def real_view(t: Tensor) -> Tensor:
    """``t`` dense, complex numbers as pairs of reals, in float64 on the CPU."""
    if t.is_sparse:
        t = t.to_dense()
    if t.is_complex():
        t = torch.view_as_real(t)
    return t.detach().to("cpu", torch.float64)


def unit(dtype: torch.dtype) -> float:
    """The unit roundoff of ``dtype``'s real dtype (0 for an integer dtype)."""
    real = tolerances.real_dtype(dtype)
    return float(torch.finfo(real).eps) / 2 if real.is_floating_point else 0.0


def operand_unit(problem: Problem, param: int, dtype: torch.dtype) -> float:
    """The roundoff unit of the narrowest operand of ``param``'s update: its own dtype's, or
    that of a hyperparameter its group holds as a narrower tensor (a float32 ``lr`` on
    float64 parameters rounds every product it enters at float32's unit)."""
    found = unit(dtype)
    group = next((g for g, members in enumerate(problem.groups) if param in members), None)
    if group is None:
        return found
    rows = [problem.hyper[group]] + [
        row[group] for row in problem.schedule.values() if group < len(row)
    ]
    for hyper in rows:
        for value in hyper.values():
            for v in value if isinstance(value, tuple) else (value,):
                if isinstance(v, Tensor) and (v.is_floating_point() or v.is_complex()):
                    found = max(found, unit(v.dtype))
    return found


def as_tensor(v: Any) -> Tensor | None:
    """A tensor as it is; a real number as a 0-d float64 tensor; anything else ``None``."""
    if isinstance(v, Tensor):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return torch.tensor(float(v), dtype=torch.float64)


@dataclass
class Runs:
    """The recorded runs a judgement reads: the target's, torch's (``"forloop"`` first),
    and the oracle and the nudged runs, each recorded when first asked for."""

    problem: Problem
    target: Trajectory
    references: dict[str, Trajectory]
    oracle_thunk: Callable[[], Trajectory | None]
    perturbed_thunk: Callable[[], list[Trajectory]] | None = None
    _oracle: Trajectory | None = None
    _oracle_done: bool = False
    _perturbed: list[Trajectory] | None = None

    def perturbed(self) -> list[Trajectory]:
        """torch's for-loop runs nudged by an ulp after every step (recorded when first asked
        for, and only when a value is outside the budget without them)."""
        if self._perturbed is None:
            found = self.perturbed_thunk() if self.perturbed_thunk is not None else []
            self._perturbed = [run for run in found if run.error is None]
        return self._perturbed

    def oracle(self) -> Trajectory:
        if not self._oracle_done:
            self._oracle_done = True
            found = self.oracle_thunk()
            self._oracle = found if found is not None and found.error is None else None
        return self._oracle if self._oracle is not None else self.references["forloop"]


def value_of(snapshot: Snapshot, param: int, key: str | None) -> Any:
    """Parameter ``param`` (``key`` ``None``) or its state entry ``key`` in ``snapshot``."""
    if key is None:
        return snapshot.params[param]
    return snapshot.state[param].get(key)


def scale_of(runs: Runs, param: int, key: str | None, upto: int, shape: torch.Size) -> Tensor:
    """Elementwise largest magnitude of the value over torch's for-loop run up to ``upto``,
    and of the parameter (initial value included) that feeds it: the scale of the operands
    that produced it (a state entry such as ASGD's average inherits the rounding of the
    parameter update it averages)."""
    scale = torch.zeros(shape, dtype=torch.float64)
    scale = grow(scale, runs.problem.params[param])
    for k, snap in runs.references["forloop"].snapshots.items():
        if k <= upto:
            scale = grow(scale, value_of(snap, param, key))
            if key is not None:
                scale = grow(scale, snap.params[param])
    return scale


def _magnitude(t: Tensor) -> Tensor:
    """|t| on ``t``'s real view: a complex number's modulus for both of its parts (a small
    part of a large number carries the rounding of the large one)."""
    if t.is_sparse:
        t = t.to_dense()
    if t.is_complex():
        mod = t.detach().to("cpu", torch.complex128).abs().unsqueeze(-1)
        return mod.expand(*t.shape, 2)
    return t.detach().to("cpu", torch.float64).abs()


def grow(scale: Tensor, value: Any) -> Tensor:
    """``scale`` raised to ``value``'s finite magnitudes (a value of another shape: as is)."""
    t = as_tensor(value)
    if t is None:
        return scale
    v = _magnitude(t)
    if v.shape != scale.shape:
        return scale
    return torch.maximum(scale, torch.nan_to_num(v, nan=0.0, posinf=0.0, neginf=0.0))


def _perturbed_error(
    runs: Runs, k: int, param: int, key: str | None, shape: torch.Size, o_safe: Tensor
) -> Tensor | None:
    """The largest distance from the maths of the nudged runs (elementwise), if any."""
    worst: Tensor | None = None
    for run in runs.perturbed():
        if k not in run.snapshots:
            continue
        value = as_tensor(value_of(run.snapshots[k], param, key))
        if value is None or value.shape != shape:
            continue
        e = torch.nan_to_num((real_view(value) - o_safe).abs(), nan=0.0, posinf=0.0)
        worst = e if worst is None else torch.maximum(worst, e)
    return worst


def condition(
    runs: Runs,
    k: int,
    param: int,
    key: str | None,
    shape: torch.Size,
    o_safe: Tensor,
    e_t: Tensor,
    allowed: Tensor,
    scale: Tensor,
) -> tuple[Tensor, Tensor]:
    """``(allowed, within)`` widened by the problem's conditioning, for a value (of ``shape``)
    some element of which (error ``e_t`` from the maths ``o_safe``, on the value's real view)
    is outside ``allowed``.

    Where the problem amplifies rounding (cancellation, a division by a small difference)
    beyond the budget, torch's run nudged by an ulp a step shows by how much, and a correct
    implementation's other roundings may move it that far too.
    """
    e_cond = _perturbed_error(runs, k, param, key, shape, o_safe)
    if e_cond is None:
        return allowed, e_t <= allowed
    # conditioning belongs to the step, not to one element: the nudge is one draw of
    # rounding, the target's own rounding another, so each element gets the largest
    # amplification (relative to its scale) the nudge shows anywhere in the value, up
    # to ILL_POSED (measured: Adam on complex128 with λ = 0.87, β₂ = 0, the nudged run
    # lands up to 1500 units from torch where the target lands 589, but at one
    # element 83 times farther than the nudge there)
    relative = torch.nan_to_num(e_cond / scale, nan=0.0, posinf=0.0)
    worst = relative.amax() if relative.numel() else relative.new_zeros(())
    e_step = torch.maximum(e_cond, worst * scale)
    amplified = e_step > allowed
    allowed = torch.where(amplified, tolerances.CONDITIONING * e_step, allowed)
    # an ill-posed value (one ulp a step moves an element of it by a visible fraction
    # of its scale: a chaotic long run) has no digits left to compare: not at that
    # element, nor at the others, which keep digits only by luck of the draw
    if float(worst) > tolerances.ILL_POSED:
        return allowed, torch.ones_like(e_t, dtype=torch.bool)
    return allowed, e_t <= allowed
