r"""Fast Adamax: multi-tensor and compiled paths of :func:`optimizers.adamax.step`.

Mirrors the readable core :func:`optimizers.adamax.step` with ``capturable=False`` and
``differentiable=False`` (torch 2.13 ``_single_tensor_adamax`` semantics); groups with either
flag set take the readable core. Per parameter, with :math:`t` its own step count:

.. math::

   \begin{aligned}
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                         \\
   t        &\leftarrow t + 1                                                              \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}   && \text{if } \lambda \ne 0            \\
   m_t      &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)                          \\
   u_t      &\leftarrow \max\bigl(\beta_2\, u_{t-1},\; |g_t| + \epsilon\bigr)                  \\
   \theta_t &\leftarrow \theta_{t-1} + \Bigl(-\frac{\gamma}{1-\beta_1^t}\Bigr)\,(m_t / u_t)
   \end{aligned}

Per element: 28 bytes of float32 traffic. Complex parameters are viewed as real pairs after
the weight decay, so :math:`|g_t|` is taken per real component, as in the readable core.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import adamax
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    item,
    lerp,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["Adamax", "CompiledAdamax"]


def _kernel(
    p: Tensor,
    g: Tensor,
    m: Tensor,
    u: Tensor,
    s: Tensor,
    *,
    maximize: bool,
    low: bool,
    has_wd: bool,
) -> None:
    r"""One Adamax step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`\lambda, 1-\beta_1, \beta_2, \epsilon, -\gamma/(1-\beta_1^t)`.
    """
    wd, w1, beta2, eps, neg_clr = (s[i] for i in range(5))
    if maximize:
        g = -g  # g_t (maximize)
    if has_wd:
        g = g + wd * p  # g_t + lambda theta
    m_new = lerp(m, g, w1, low=low)  # m_t
    u_new = torch.maximum(u * beta2, g.abs() + eps)  # u_t
    p.copy_(p + neg_clr * (m_new / u_new))  # theta_t
    m.copy_(m_new)
    u.copy_(u_new)


_COMPILED = CompiledKernel(_kernel)


class Adamax(MultiTensorOptimizer, adamax.Adamax):
    """``optimizers.Adamax`` with one multi-tensor update per param group (same constructor,
    state and results up to the faithful tolerance)."""

    required_state = ("step", "exp_avg", "exp_inf")

    def _fast_supports(self, cfg: Any) -> bool:
        return not (cfg.capturable or cfg.differentiable)

    def _update_bucket(
        self,
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: adamax.AdamaxConfig,
    ) -> None:
        steps = [s["step"] for s in sts]
        torch._foreach_add_(steps, 1)  # t
        neg_clrs = [-item(cfg.lr / (1 - cfg.beta1 ** step_t.item())) for step_t in steps]
        has_wd = cfg.weight_decay != 0
        w1 = item(1 - cfg.beta1)
        ps, gs = real(ps), real(gs)
        ms, us = real([s["exp_avg"] for s in sts]), real([s["exp_inf"] for s in sts])
        rest = list(range(len(ps)))
        if self.compiled:
            rest = run_compiled(
                self, _COMPILED, [ps, gs, ms, us],
                lambda i: (item(cfg.weight_decay), w1, item(cfg.beta2), cfg.eps, neg_clrs[i]),
                dict(maximize=cfg.maximize, low=w1 < 0.5, has_wd=has_wd),
                min_numel=self.compile_min_numel,
            )  # fmt: skip
        if not rest:
            return
        ps, gs, ms, us, neg_clrs = (take(x, rest) for x in (ps, gs, ms, us, neg_clrs))
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        if has_wd:
            gs = list(torch._foreach_add(gs, ps, alpha=cfg.weight_decay))  # g_t + lambda theta
        torch._foreach_lerp_(ms, gs, w1)  # m_t
        torch._foreach_mul_(us, item(cfg.beta2))
        abs_g = torch._foreach_abs(gs)
        torch._foreach_add_(abs_g, cfg.eps)
        torch._foreach_maximum_(us, abs_g)  # u_t
        torch._foreach_addcdiv_(ps, ms, us, neg_clrs)  # theta_t


class CompiledAdamax(Adamax):
    """:class:`Adamax` with the compiled single-pass kernel for large float32/float64
    tensors."""

    compiled = True
