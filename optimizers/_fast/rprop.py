r"""Fast Rprop: multi-tensor and compiled paths of :func:`optimizers.rprop.step`.

Mirrors the readable core :func:`optimizers.rprop.step` (torch 2.13 ``_single_tensor_rprop``
semantics): the same rule, the tensor operations batched or fused. All elementwise; the
three factor rules are applied in this order, each to the result of the one before:

.. math::

   \begin{aligned}
   g_t        &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                     \\
   t          &\leftarrow t + 1                                                           \\
   s_t        &\leftarrow \operatorname{sign}(g_t\, p_{t-1})                              \\
   f_t        &\leftarrow \eta_+ \text{ where } s_t > 0 \text{, else } s_t                 \\
   f_t        &\leftarrow \eta_- \text{ where } f_t < 0 \text{, else } f_t                 \\
   f_t        &\leftarrow 1 \text{ where } f_t = 0 \text{, else } f_t                      \\
   \Delta_t   &\leftarrow \operatorname{clamp}(\Delta_{t-1} f_t, \Gamma_{\min}, \Gamma_{\max}) \\
   g'_t       &\leftarrow 0 \text{ where } f_t = \eta_- \text{, else } g_t                 \\
   \theta_t   &\leftarrow \theta_{t-1} + (-1)\operatorname{sign}(g'_t)\, \Delta_t          \\
   p_t        &\leftarrow g'_t
   \end{aligned}

Per element: 28 bytes of float32 traffic (reads :math:`\theta, g, p, \Delta`; writes
:math:`\theta, p, \Delta`). The comparisons use :math:`\eta_\pm` rounded to the parameter's
dtype, as the readable core's ``masked_fill`` does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import rprop
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["CompiledRprop", "Rprop"]


def _kernel(
    p: Tensor, g: Tensor, prev: Tensor, step_size: Tensor, s: Tensor, *, maximize: bool
) -> None:
    r"""One Rprop step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`\eta_+, \eta_-, \Gamma_{\min}, \Gamma_{\max}`.
    """
    etaplus, etaminus, step_size_min, step_size_max = (s[i] for i in range(4))
    if maximize:
        g = -g  # g_t (maximize)
    sign = (g * prev).sign()  # s_t
    factor = torch.where(sign > 0, etaplus, sign)  # f_t: eta_+ where s_t > 0
    factor = torch.where(factor < 0, etaminus, factor)  # f_t: eta_- where < 0
    factor = torch.where(factor == 0, torch.ones_like(factor), factor)  # f_t: 1 where = 0
    new_step_size = torch.clamp(step_size * factor, step_size_min, step_size_max)  # Delta_t
    g = torch.where(factor == etaminus, torch.zeros_like(g), g)  # g'_t
    p.copy_(p + (-1) * g.sign() * new_step_size)  # theta_t
    prev.copy_(g)  # p_t
    step_size.copy_(new_step_size)


_COMPILED = CompiledKernel(_kernel)


class Rprop(MultiTensorOptimizer, rprop.Rprop):
    """``optimizers.Rprop`` with one multi-tensor update per param group (same constructor,
    state and results up to the faithful tolerance)."""

    required_state = ("step", "prev", "step_size")

    def _update_bucket(
        self,
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: rprop.RpropConfig,
    ) -> None:
        torch._foreach_add_([s["step"] for s in sts], 1)  # t
        ps, gs = real(ps), real(gs)
        prevs, sizes = real([s["prev"] for s in sts]), real([s["step_size"] for s in sts])
        rest = list(range(len(ps)))
        if self.compiled:
            rest = run_compiled(
                self, _COMPILED, [ps, gs, prevs, sizes],
                lambda i: (cfg.etaplus, cfg.etaminus, cfg.step_size_min, cfg.step_size_max),
                dict(maximize=cfg.maximize),
                min_numel=self.compile_min_numel,
            )  # fmt: skip
        if not rest:
            return
        ps, gs, prevs, sizes = (take(x, rest) for x in (ps, gs, prevs, sizes))
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        signs = torch._foreach_mul(gs, prevs)
        torch._foreach_sign_(signs)  # s_t
        for factor in signs:  # f_t, the three rules in place (no foreach masked_fill)
            factor.masked_fill_(factor.gt(0), cfg.etaplus)
            factor.masked_fill_(factor.lt(0), cfg.etaminus)
            factor.masked_fill_(factor.eq(0), 1)
        torch._foreach_mul_(sizes, signs)
        torch._foreach_clamp_min_(sizes, cfg.step_size_min)
        torch._foreach_clamp_max_(sizes, cfg.step_size_max)  # Delta_t
        gs = [g.masked_fill(f.eq(cfg.etaminus), 0) for g, f in zip(gs, signs, strict=True)]
        torch._foreach_addcmul_(ps, torch._foreach_sign(gs), sizes, -1)  # theta_t
        torch._foreach_copy_(prevs, gs)  # p_t


class CompiledRprop(Rprop):
    """:class:`Rprop` with the compiled single-pass kernel for large float32/float64
    tensors."""

    compiled = True
