"""Correct optimisers written from the papers, not from torch's source: they must conform.

``TextbookAdam`` is Kingma & Ba (2015), Algorithm 1, with ε outside the root after the bias
correction and L2 decay folded into g, written with its own operation order: it rounds
differently from every torch implementation. Where torch's semantics are a choice rather than
the maths, it follows torch (and says why): the EMAs as ``lerp``/``addcmul`` (scaling before
squaring, so g·g does not overflow first), the root of v̂ as √v/√(1−β₂ᵗ) (v/(1−β₂ᵗ) overflows
first), complex numbers as pairs of reals. ``TextbookAdamIntStep`` keeps its step as a Python
int and its moments under other names (a layout torch does not have). ``FusedAdam`` and
friends are torch's own fused kernels as targets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = ["FusedAdagrad", "FusedAdam", "FusedAdamW", "TextbookAdam", "TextbookAdamIntStep"]


class TextbookAdam(torch.optim.Optimizer):
    r"""Adam (Kingma & Ba 2015, Algorithm 1; L2 decay as in torch.optim.Adam):

    .. math::
        g \leftarrow g + \lambda\theta,\quad m \leftarrow m + (1-\beta_1)(g - m),\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        \theta \leftarrow \theta - \frac{\eta}{1-\beta_1^t}\,
        \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}
    """

    step_key, m_key, v_key = "step", "exp_avg", "exp_avg_sq"

    def __init__(
        self,
        params: Iterable[Any],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def _count(self, state: dict[str, Any]) -> int:
        state[self.step_key] = state.get(self.step_key, torch.tensor(0.0)) + 1
        return int(state[self.step_key])

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            lr = float(group["lr"])  # the exact value of a tensor lr
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state[self.m_key] = torch.zeros_like(p)
                    state[self.v_key] = torch.zeros_like(p)
                t = self._count(state)
                real = torch.view_as_real if p.is_complex() else (lambda x: x)
                theta, g = real(p), real(p.grad)
                m, v = real(state[self.m_key]), real(state[self.v_key])
                if group["weight_decay"]:
                    g = g + group["weight_decay"] * theta
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = v.sqrt() / math.sqrt(1 - beta2**t) + group["eps"]
                # half-precision parameters: the quotient and the step are formed in float32
                # and rounded once, as torch's kernels do for every reduced-precision op (its
                # "opmath"); in float16 itself m / denom underflows into the subnormals for
                # β1 near 1
                wide = torch.float32 if theta.dtype in (torch.float16, torch.bfloat16) else None
                if wide is not None:
                    m, denom = m.to(wide), denom.to(wide)
                theta.sub_((lr / (1 - beta1**t) * (m / denom)).to(theta.dtype))
        return None


class TextbookAdamIntStep(TextbookAdam):
    """The same, with ``step`` a Python int and the moments as ``m``/``v``."""

    m_key, v_key = "m", "v"

    def _count(self, state: dict[str, Any]) -> int:
        state[self.step_key] = int(state.get(self.step_key, 0)) + 1
        return int(state[self.step_key])


def _fused(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    class Fused(cls):  # type: ignore[valid-type,misc]
        def __init__(self, params: Iterable[Any], **kwargs: Any) -> None:
            super().__init__(params, **{**kwargs, "fused": True})

    Fused.__name__ = Fused.__qualname__ = f"Fused{cls.__name__}"
    return Fused


FusedAdam = _fused(torch.optim.Adam)
FusedAdamW = _fused(torch.optim.AdamW)
FusedAdagrad = _fused(torch.optim.Adagrad)
