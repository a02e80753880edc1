r"""Fast SGD: multi-tensor and compiled paths of :func:`optimizers.sgd.step`.

Mirrors the readable core :func:`optimizers.sgd.step` (torch 2.13 ``_single_tensor_sgd``
semantics): the same rule, the tensor operations batched or fused.

.. math::

   \begin{aligned}
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                    \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}  && \text{if } \lambda \ne 0          \\
   b_1      &\leftarrow g_1                          && \text{(first step: a copy)}      \\
   b_t      &\leftarrow \mu\, b_{t-1} + (1-\tau)\, g_t && (t > 1)                        \\
   g_t      &\leftarrow g_t + \mu\, b_t \text{ if nesterov else } b_t && \text{if } \mu \ne 0 \\
   \theta_t &\leftarrow \theta_{t-1} + (-\gamma)\, g_t
   \end{aligned}

Per element: 12 bytes of float32 traffic without momentum, 20 with. The first momentum step
(the buffer is created as a copy of :math:`g_1`) always takes the multi-tensor path; complex
parameters keep their complex buffers and are viewed as real pairs only inside the compiled
kernel (the rule is linear, so the two agree component by component).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import sgd
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    item,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["SGD", "CompiledSGD"]


def _kernel(
    p: Tensor,
    g: Tensor,
    buf: Tensor | None,
    s: Tensor,
    *,
    maximize: bool,
    has_wd: bool,
    nesterov: bool,
) -> None:
    r"""One SGD step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`\lambda, \mu, 1-\tau, -\gamma`.
    """
    wd, momentum, w_damp, neg_lr = (s[i] for i in range(4))
    if maximize:
        g = -g  # g_t (maximize)
    if has_wd:
        g = g + wd * p  # g_t + lambda theta
    if buf is not None:
        b = buf * momentum + w_damp * g  # b_t
        g = g + momentum * b if nesterov else b  # g_t
        buf.copy_(b)
    p.copy_(p + neg_lr * g)  # theta_t


_COMPILED = CompiledKernel(_kernel)


class SGD(MultiTensorOptimizer, sgd.SGD):
    """``optimizers.SGD`` with one multi-tensor update per param group (same constructor,
    state and results up to the faithful tolerance)."""

    creates_state = False

    def _update_bucket(
        self, ps: list[Tensor], gs: list[Tensor], sts: list[dict[str, Any]], cfg: sgd.SGDConfig
    ) -> None:
        has_wd = bool(cfg.weight_decay != 0)
        momentum = cfg.momentum != 0
        bufs = [s.get("momentum_buffer") if momentum else None for s in sts]
        # the first momentum step (b_1 = g_1) takes the multi-tensor path
        new_buffer = [momentum and b is None for b in bufs]
        real_bufs = [torch.view_as_real(b) if b is not None and b.is_complex() else b for b in bufs]
        rest = list(range(len(ps)))
        # theta += -gamma g alone is one foreach call, already a single pass: nothing to fuse;
        # the first momentum step (b_1 = g_1) takes the multi-tensor path
        if self.compiled and (momentum or has_wd or cfg.maximize):
            fresh = [i for i in rest if new_buffer[i]]
            old = [i for i in rest if not new_buffer[i]]
            consts = (item(cfg.weight_decay), cfg.momentum, 1 - cfg.dampening, -item(cfg.lr))
            done = run_compiled(
                self, _COMPILED, [take(real(ps), old), take(real(gs), old), take(real_bufs, old)],
                lambda i: consts,
                {"maximize": cfg.maximize, "has_wd": has_wd, "nesterov": cfg.nesterov},
                min_numel=self.compile_min_numel,
            )  # fmt: skip
            rest = sorted(fresh + take(old, done))
        if rest:
            self._multi_tensor(take(ps, rest), take(gs, rest), take(sts, rest), cfg, has_wd)

    @staticmethod
    def _multi_tensor(
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: sgd.SGDConfig,
        has_wd: bool,
    ) -> None:
        """The rule over a whole bucket with ``torch._foreach_*`` operations, in place."""
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        if has_wd:
            gs = list(
                torch._foreach_add(gs, ps, alpha=item(cfg.weight_decay))
            )  # g_t + lambda theta
        if cfg.momentum != 0:
            bufs: list[Tensor] = []
            old: list[int] = []
            for i, (g, s) in enumerate(zip(gs, sts, strict=True)):
                buf = s.get("momentum_buffer")
                if buf is None:
                    buf = s["momentum_buffer"] = g.detach().clone()  # b_1 = g_1
                else:
                    old.append(i)
                bufs.append(buf)
            if old:
                torch._foreach_mul_(take(bufs, old), cfg.momentum)
                torch._foreach_add_(take(bufs, old), take(gs, old), alpha=1 - cfg.dampening)  # b_t
            gs = list(torch._foreach_add(gs, bufs, alpha=cfg.momentum)) if cfg.nesterov else bufs
        torch._foreach_add_(ps, gs, alpha=-item(cfg.lr))  # theta_t


class CompiledSGD(SGD):
    """:class:`SGD` with the compiled single-pass kernel for large float32/float64 tensors."""

    compiled = True
