"""Optimisers with one deliberate defect each, for the robustness tests of ``optverify check``.

Every class is a thin change of a torch optimiser, so the defect is the only difference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


class StrictEpsAdam(torch.optim.Adam):
    """Rejects eps below 1e-12, which torch accepts (eps = 0 is valid)."""

    def __init__(self, params: Any, lr: float | Tensor = 1e-3, betas: Any = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:  # fmt: skip
        if eps < 1e-12:
            raise ValueError(f"eps too small: {eps}")
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


class PlainSGD(torch.optim.Optimizer):
    """SGD without momentum (correct: lr is its only hyperparameter)."""

    def __init__(self, params: Iterable[Any], lr: float | Tensor = 1e-3) -> None:
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-float(group["lr"]))
        return None


class UnvalidatedSGD(PlainSGD):
    """Never validates its learning rate (torch rejects lr < 0)."""

    def __init__(self, params: Iterable[Any], lr: float | Tensor = 1e-3) -> None:
        torch.optim.Optimizer.__init__(self, params, {"lr": lr})


class NoWeightDecaySGD(torch.optim.SGD):
    """Raises in step() for weight decay, which torch supports."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        if any(group["weight_decay"] != 0 for group in self.param_groups):
            raise NotImplementedError("weight decay is not supported yet")
        return super().step(closure)


class NormalisedSGD(PlainSGD):
    """Rescales the gradient by |g| / |g|: NaN where a gradient entry is exactly 0."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    g = p.grad * (p.grad.abs() / p.grad.abs())
                    p.add_(g, alpha=-float(group["lr"]))
        return None


class HangingSGD(PlainSGD):
    """Never returns from step() (a runaway loop of small torch operations)."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        scratch = torch.zeros(4)
        while True:
            scratch.add_(1.0)


class HangsAtZeroLrSGD(PlainSGD):
    """Waits for a learning rate that never comes: loops forever when lr == 0."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        while any(float(group["lr"]) == 0 for group in self.param_groups):
            torch.zeros(4).add_(1.0)
        return super().step(closure)


class VelocitySGD(torch.optim.Optimizer):
    """Correct SGD with momentum that keeps its buffer under ``velocity`` (torch:
    ``momentum_buffer``) and counts steps in a Python int under ``t``."""

    def __init__(self, params: Iterable[Any], lr: float | Tensor = 1e-3,
                 momentum: float = 0.0) -> None:  # fmt: skip
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        super().__init__(params, {"lr": lr, "momentum": momentum})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        for group in self.param_groups:
            lr, mu = float(group["lr"]), group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                state["t"] = state.get("t", 0) + 1
                if mu != 0:
                    if "velocity" not in state:
                        state["velocity"] = g.clone()
                    else:
                        state["velocity"].mul_(mu).add_(g)
                    g = state["velocity"]
                p.add_(g, alpha=-lr)
        return None


class IntStepAdam(torch.optim.Optimizer):
    """Correct Adam (torch's operation order) that keeps ``step`` as a Python int, where
    torch keeps a 0-d float32 tensor: a layout difference, not a mismatch."""

    def __init__(self, params: Iterable[Any], lr: float | Tensor = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:  # fmt: skip
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
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay})  # fmt: skip

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        for group in self.param_groups:
            lr = group["lr"]  # a tensor lr stays a tensor, as in torch (lr / bc1 in its dtype)
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                if group["weight_decay"] != 0:
                    grad = grad.add(p, alpha=group["weight_decay"])
                exp_avg, exp_avg_sq, step = state["exp_avg"], state["exp_avg_sq"], state["step"]
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                bias_correction1 = 1 - beta1**step
                bias_correction2 = 1 - beta2**step
                step_size = lr / bias_correction1
                denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(group["eps"])
                p.addcdiv_(exp_avg, denom, value=-step_size)
        return None


class NeedsScale(torch.optim.SGD):
    """SGD whose constructor needs an argument torch's does not take (``--init scale=...``)."""

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, *, scale: float) -> None:
        super().__init__(params, lr=lr)
        self.scale = scale


def make_sgd(params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0) -> Any:
    """A factory target: ``module:make_sgd`` checks what it returns."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum)


class InterruptedSGD(torch.optim.SGD):
    """torch's SGD, interrupted (as by Ctrl-C) at its 40th step."""

    steps = 0

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        type(self).steps += 1
        if type(self).steps == 40:
            raise KeyboardInterrupt
        return super().step(closure)
