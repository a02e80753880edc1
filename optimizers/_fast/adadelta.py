r"""Fast Adadelta: multi-tensor and compiled paths of :func:`optimizers.adadelta.step`.

Mirrors the readable core :func:`optimizers.adadelta.step` (torch 2.13
``_single_tensor_adadelta`` semantics): the same rule, the tensor operations batched or fused.

.. math::

   \begin{aligned}
   t        &\leftarrow t + 1 \qquad \text{(counted only)}                                 \\
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                        \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}   && \text{if } \lambda \ne 0           \\
   v_t      &\leftarrow \rho\, v_{t-1} + (1-\rho)\, g_t^2                                  \\
   s_t      &\leftarrow \sqrt{v_t + \epsilon}                                              \\
   \Delta_t &\leftarrow \bigl(\sqrt{u_{t-1} + \epsilon} \,/\, s_t\bigr)\, g_t              \\
   u_t      &\leftarrow \rho\, u_{t-1} + (1-\rho)\, \Delta_t^2                             \\
   \theta_t &\leftarrow \theta_{t-1} + (-\gamma)\, \Delta_t
   \end{aligned}

Per element: 28 bytes of float32 traffic (reads :math:`\theta, g, v, u`; writes
:math:`\theta, v, u`). Complex parameters are viewed as real pairs after the weight decay.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import adadelta
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    item,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["Adadelta", "CompiledAdadelta"]


def _kernel(
    p: Tensor, g: Tensor, v: Tensor, u: Tensor, s: Tensor, *, maximize: bool, has_wd: bool
) -> None:
    r"""One Adadelta step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`\lambda, \rho, 1-\rho, \epsilon, -\gamma`.
    """
    wd, rho, w, eps, neg_lr = (s[i] for i in range(5))
    if maximize:
        g = -g  # g_t (maximize)
    if has_wd:
        g = g + wd * p  # g_t + lambda theta
    v_new = v * rho + w * g * g  # v_t
    std = (v_new + eps).sqrt()  # s_t
    delta = (u + eps).sqrt() / std * g  # Delta_t
    u_new = u * rho + w * delta * delta  # u_t
    p.copy_(p + neg_lr * delta)  # theta_t
    v.copy_(v_new)
    u.copy_(u_new)


_COMPILED = CompiledKernel(_kernel)


class Adadelta(MultiTensorOptimizer, adadelta.Adadelta):
    """``optimizers.Adadelta`` with one multi-tensor update per param group (same
    constructor, state and results up to the faithful tolerance)."""

    required_state = ("step", "square_avg", "acc_delta")

    def _update_bucket(
        self,
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: adadelta.AdadeltaConfig,
    ) -> None:
        torch._foreach_add_([s["step"] for s in sts], 1)  # t
        has_wd = cfg.weight_decay != 0
        w = 1 - cfg.rho
        neg_lr = -item(cfg.lr)
        ps, gs = real(ps), real(gs)
        vs, us = real([s["square_avg"] for s in sts]), real([s["acc_delta"] for s in sts])
        rest = list(range(len(ps)))
        if self.compiled:
            rest = run_compiled(
                self, _COMPILED, [ps, gs, vs, us],
                lambda i: (item(cfg.weight_decay), cfg.rho, w, cfg.eps, neg_lr),
                dict(maximize=cfg.maximize, has_wd=has_wd),
                min_numel=self.compile_min_numel,
            )  # fmt: skip
        if not rest:
            return
        ps, gs, vs, us = (take(x, rest) for x in (ps, gs, vs, us))
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        if has_wd:
            gs = list(torch._foreach_add(gs, ps, alpha=cfg.weight_decay))  # g_t + lambda theta
        torch._foreach_mul_(vs, cfg.rho)
        torch._foreach_addcmul_(vs, gs, gs, w)  # v_t
        std = torch._foreach_add(vs, cfg.eps)
        torch._foreach_sqrt_(std)  # s_t
        delta = torch._foreach_add(us, cfg.eps)
        torch._foreach_sqrt_(delta)
        torch._foreach_div_(delta, std)
        torch._foreach_mul_(delta, gs)  # Delta_t
        torch._foreach_mul_(us, cfg.rho)
        torch._foreach_addcmul_(us, delta, delta, w)  # u_t
        torch._foreach_add_(ps, delta, alpha=neg_lr)  # theta_t


class CompiledAdadelta(Adadelta):
    """:class:`Adadelta` with the compiled single-pass kernel for large float32/float64
    tensors."""

    compiled = True
