r"""Fast RMSprop: multi-tensor and compiled paths of :func:`optimizers.rmsprop.step`.

Mirrors the readable core :func:`optimizers.rmsprop.step` (torch 2.13
``_single_tensor_rmsprop`` semantics): the same rule, the tensor operations batched or fused.

.. math::

   \begin{aligned}
   t        &\leftarrow t + 1 \qquad \text{(counted only)}                                 \\
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                        \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}   && \text{if } \lambda \ne 0           \\
   v_t      &\leftarrow \alpha\, v_{t-1} + (1-\alpha)\, g_t^2                              \\
   \bar g_t &\leftarrow \operatorname{lerp}(\bar g_{t-1}, g_t, 1-\alpha) && \text{if centered} \\
   d_t      &\leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon       && \text{if centered}     \\
   d_t      &\leftarrow \sqrt{v_t} + \epsilon                    && \text{otherwise}       \\
   b_t      &\leftarrow \mu\, b_{t-1} + g_t / d_t                && \text{if } \mu > 0     \\
   \theta_t &\leftarrow \theta_{t-1} + (-\gamma)\, b_t           && \text{if } \mu > 0     \\
   \theta_t &\leftarrow \theta_{t-1} + (-\gamma)\,(g_t / d_t)    && \text{otherwise}
   \end{aligned}

Per element: 20 bytes of float32 traffic plain, 28 with momentum or centered, 36 with both.
A parameter whose state lacks the buffer its group now asks for (momentum or centered turned
on after the state was created) takes the readable core, which raises torch's ``KeyError``.

Centered groups never take the compiled kernel. :math:`v_t - \bar g_t^2` cancels (exactly, in
real arithmetic, for a constant gradient), so its rounding decides the result: with
:math:`\alpha = 0` the sign of one rounding error chooses between NaN and a finite step, and
over long runs the relative error of the difference grows past the faithful tolerance. ATen
rounds :math:`\alpha v_{t-1}` before a fused multiply-add with :math:`(1-\alpha) g_t \cdot
g_t`; a compiled loop leaves the choice of which product to fuse to the C++ compiler, so it
cannot promise the same roundings. The multi-tensor path calls the same ATen operations as the
readable core and agrees with it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import rmsprop
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    item,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["CompiledRMSprop", "RMSprop"]


def _kernel(
    p: Tensor,
    g: Tensor,
    v: Tensor,
    buf: Tensor | None,
    s: Tensor,
    *,
    maximize: bool,
    has_wd: bool,
) -> None:
    r"""One RMSprop step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`\lambda, \alpha, 1-\alpha, \epsilon, \mu, -\gamma`.
    """
    wd, alpha, w, eps, momentum, neg_lr = (s[i] for i in range(6))
    if maximize:
        g = -g  # g_t (maximize)
    if has_wd:
        g = g + wd * p  # g_t + lambda theta
    v_new = v * alpha + w * g * g  # v_t
    d = v_new.sqrt() + eps  # d_t (not centered: centered groups take the multi-tensor path)
    if buf is not None:
        b = buf * momentum + g / d  # b_t
        p.copy_(p + neg_lr * b)  # theta_t
        buf.copy_(b)
    else:
        p.copy_(p + neg_lr * (g / d))  # theta_t
    v.copy_(v_new)


_COMPILED = CompiledKernel(_kernel)


class RMSprop(MultiTensorOptimizer, rmsprop.RMSprop):
    """``optimizers.RMSprop`` with one multi-tensor update per param group (same
    constructor, state and results up to the faithful tolerance)."""

    required_state = ("step", "square_avg")

    def _eligible(self, p: Tensor, grad: Tensor, state: dict[str, Any], cfg: Any) -> bool:
        if cfg.momentum > 0 and state.get("momentum_buffer") is None:
            return False
        if cfg.centered and state.get("grad_avg") is None:
            return False
        return super()._eligible(p, grad, state, cfg)

    def _update_bucket(
        self,
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: rmsprop.RMSpropConfig,
    ) -> None:
        torch._foreach_add_([s["step"] for s in sts], 1)  # t
        has_wd = cfg.weight_decay != 0
        w = 1 - cfg.alpha
        neg_lr = -item(cfg.lr)
        n = len(ps)
        ps, gs, vs = real(ps), real(gs), real([s["square_avg"] for s in sts])
        avgs = real([s["grad_avg"] for s in sts]) if cfg.centered else None
        bufs = real([s["momentum_buffer"] for s in sts]) if cfg.momentum > 0 else None
        rest = list(range(n))
        if (
            self.compiled and not cfg.centered
        ):  # see the module docstring: centered stays on the multi-tensor path
            rest = run_compiled(
                self, _COMPILED, [ps, gs, vs, bufs or [None] * n],
                lambda i: (item(cfg.weight_decay), cfg.alpha, w, cfg.eps, cfg.momentum, neg_lr),
                dict(maximize=cfg.maximize, has_wd=has_wd),
                min_numel=self.compile_min_numel,
            )  # fmt: skip
        if not rest:
            return
        ps, gs, vs = (take(x, rest) for x in (ps, gs, vs))
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        if has_wd:
            gs = list(torch._foreach_add(gs, ps, alpha=cfg.weight_decay))  # g_t + lambda theta
        torch._foreach_mul_(vs, cfg.alpha)
        torch._foreach_addcmul_(vs, gs, gs, w)  # v_t
        if avgs is not None:
            avgs = take(avgs, rest)
            torch._foreach_lerp_(avgs, gs, w)  # bar g_t
            denom = torch._foreach_addcmul(vs, avgs, avgs, -1)
            torch._foreach_sqrt_(denom)
        else:
            denom = torch._foreach_sqrt(vs)
        torch._foreach_add_(denom, cfg.eps)  # d_t
        if bufs is not None:
            bufs = take(bufs, rest)
            torch._foreach_mul_(bufs, cfg.momentum)
            torch._foreach_addcdiv_(bufs, gs, denom)  # b_t
            torch._foreach_add_(ps, bufs, alpha=neg_lr)  # theta_t
        else:
            torch._foreach_addcdiv_(ps, gs, denom, neg_lr)  # theta_t


class CompiledRMSprop(RMSprop):
    """:class:`RMSprop` with the compiled single-pass kernel for large float32/float64
    tensors."""

    compiled = True
