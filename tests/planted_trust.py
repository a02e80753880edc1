"""Planted bugs that only the default coverage of the verdict model reaches.

Each is torch's own class with one defect added after its step, so that everything but the
defect is right: a bug that shows only on complex parameters, only in the overflow band of
g², only as the kind of a non-finite value, only beyond a SIMD vector's width, only after
an empty parameter, or only for non-contiguous parameters. ``EXPECTED`` names the class of
finding each must produce.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["ALSO_RIGHT", "EXPECTED", "TRUST_PLANTED"]


def _before(opt: torch.optim.Optimizer) -> list[tuple[Tensor, Tensor, Tensor | None]]:
    return [
        (p, p.detach().clone(), None if p.grad is None else p.grad.detach().clone())
        for group in opt.param_groups
        for p in group["params"]
    ]


class SGDComplexConjugate(torch.optim.SGD):
    """Steps complex parameters along conj(g): right for every real dtype."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        seen = _before(self)
        loss = super().step(closure)
        for p, old, g in seen:
            if p.is_complex() and g is not None and not g.is_sparse:
                lr = self.param_groups[0]["lr"]
                direct = p - old  # torch's update
                p.copy_(old + (direct.conj() if float(lr) else direct))
        return loss


class AdamSquaresFirst(torch.optim.Adam):
    """Forms g·g before scaling by 1 − β₂, as a textbook line does: where g·g overflows the
    dtype (float32 |g| > 1.8e19, float16 |g| > 256) the second moment is inf and the step 0."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        seen = _before(self)
        loss = super().step(closure)
        for p, old, g in seen:
            if g is None or g.is_sparse or p.is_complex():
                continue
            squares = g * g
            blown = ~squares.isfinite() & g.isfinite()
            if bool(blown.any()):
                self.state[p]["exp_avg_sq"][blown] = torch.inf
                p[blown] = old[blown]
        return loss


class SGDNaNForInf(torch.optim.SGD):
    """Turns an infinite parameter into NaN (an inf − inf in its own update)."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                p[p.isinf()] = torch.nan
        return loss


class SGDSkipsTail(torch.optim.SGD):
    """Updates only whole blocks of 16 elements: the scalar tail of a vectorised loop is
    skipped (tensors of 16 or fewer elements, and multiples of 16, are right)."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        seen = _before(self)
        loss = super().step(closure)
        for p, old, _ in seen:
            n = p.numel()
            if n > 16 and n % 16:
                flat_new, flat_old = p.reshape(-1).clone(), old.reshape(-1)
                flat_new[n - n % 16 :] = flat_old[n - n % 16 :]
                p.copy_(flat_new.reshape(p.shape))
        return loss


class SGDStopsAfterEmpty(torch.optim.SGD):
    """Stops updating a group's parameters after an empty one."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        seen = {id(p): old for p, old, _ in _before(self)}
        loss = super().step(closure)
        for group in self.param_groups:
            empty_seen = False
            for p in group["params"]:
                if empty_seen:
                    p.copy_(seen[id(p)])
                empty_seen = empty_seen or (p.numel() == 0 and p.grad is not None)
        return loss


class SGDAssumesContiguous(torch.optim.SGD):
    """Writes the update through the parameter's storage as if it were contiguous."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        seen = _before(self)
        loss = super().step(closure)
        for p, old, _ in seen:
            if not p.is_contiguous() and p.numel() > 1:
                new = p.detach().clone()
                p.copy_(old)
                flat = torch.as_strided(p, (p.numel(),), (1,))
                flat.copy_(new.reshape(-1))
        return loss


#: planted bug -> (torch optimiser, the class of finding it must produce)
EXPECTED: dict[type, tuple[str, str]] = {
    SGDComplexConjugate: ("SGD", "mismatch"),
    AdamSquaresFirst: ("Adam", "overflow"),
    SGDNaNForInf: ("SGD", "non-finite kind"),
    SGDSkipsTail: ("SGD", "mismatch"),
    SGDStopsAfterEmpty: ("SGD", "mismatch"),
    SGDAssumesContiguous: ("SGD", "mismatch"),
}
TRUST_PLANTED = {cls: against for cls, (against, _) in EXPECTED.items()}

#: another class that is right for a bug: where torch's own float16 step overflows too (to
#: NaN, the maths finite), the squared-first target's inf differs from it in kind
ALSO_RIGHT: dict[type, frozenset[str]] = {AdamSquaresFirst: frozenset({"non-finite kind"})}
