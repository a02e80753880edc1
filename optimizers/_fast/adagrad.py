r"""Fast Adagrad: multi-tensor and compiled paths of :func:`optimizers.adagrad.step`.

Mirrors the readable core :func:`optimizers.adagrad.step` for dense gradients (torch 2.13
``_single_tensor_adagrad`` semantics); sparse gradients take the readable core. Per
parameter, with :math:`t` its own step count:

.. math::

   \begin{aligned}
   t        &\leftarrow t + 1                                                              \\
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                         \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}   && \text{if } \lambda \ne 0            \\
   \tilde\gamma_t &\leftarrow \gamma \,/\, (1 + (t-1)\,\eta)   && \text{(Python double)}    \\
   s_t      &\leftarrow s_{t-1} + g_t \odot g_t                                             \\
   d_t      &\leftarrow \sqrt{s_t} + \epsilon                                               \\
   \theta_t &\leftarrow \theta_{t-1} + (-\tilde\gamma_t)\,(g_t / d_t)
   \end{aligned}

Per element: 20 bytes of float32 traffic. Complex parameters are viewed as real pairs after
the weight decay, as in the readable core.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import adagrad
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    advance_steps,
    item,
    per_step,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["Adagrad", "CompiledAdagrad"]


def _kernel(p: Tensor, g: Tensor, sum_: Tensor, s: Tensor, *, maximize: bool, has_wd: bool) -> None:
    r"""One Adagrad step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`\lambda, \epsilon, -\tilde\gamma_t`.
    """
    wd, eps, neg_clr = (s[i] for i in range(3))
    if maximize:
        g = -g  # g_t (maximize)
    if has_wd:
        g = g + wd * p  # g_t + lambda theta
    sum_new = sum_ + g * g  # s_t
    std = sum_new.sqrt() + eps  # d_t
    p.copy_(p + neg_clr * (g / std))  # theta_t
    sum_.copy_(sum_new)


_COMPILED = CompiledKernel(_kernel)


class Adagrad(MultiTensorOptimizer, adagrad.Adagrad):
    """``optimizers.Adagrad`` with one multi-tensor update per param group (same
    constructor, state and results up to the faithful tolerance)."""

    required_state = ("step", "sum")

    def _update_bucket(
        self,
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: adagrad.AdagradConfig,
    ) -> None:
        steps = [s["step"] for s in sts]
        clrs = per_step(advance_steps(self, steps), lambda t: adagrad.decayed_lr(t, cfg))
        neg_clrs = [-item(clr) for clr in clrs]  # -tilde gamma_t
        has_wd = cfg.weight_decay != 0
        ps, gs, sums = real(ps), real(gs), real([s["sum"] for s in sts])
        rest = list(range(len(ps)))
        if self.compiled:
            wd, eps = item(cfg.weight_decay), cfg.eps
            rest = run_compiled(
                self, _COMPILED, [ps, gs, sums], lambda i: (wd, eps, neg_clrs[i]),
                {"maximize": cfg.maximize, "has_wd": has_wd}, min_numel=self.compile_min_numel,
            )  # fmt: skip
        if not rest:
            return
        ps, gs, sums, neg_clrs = (take(x, rest) for x in (ps, gs, sums, neg_clrs))
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        if has_wd:
            gs = list(torch._foreach_add(gs, ps, alpha=cfg.weight_decay))  # g_t + lambda theta
        torch._foreach_addcmul_(sums, gs, gs, 1)  # s_t
        std = torch._foreach_sqrt(sums)
        torch._foreach_add_(std, cfg.eps)  # d_t
        torch._foreach_addcdiv_(ps, gs, std, neg_clrs)  # theta_t


class CompiledAdagrad(Adagrad):
    """:class:`Adagrad` with the compiled single-pass kernel for large float32/float64
    tensors."""

    compiled = True
