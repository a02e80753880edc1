r"""Fast ASGD: multi-tensor and compiled paths of :func:`optimizers.asgd.step`.

Mirrors the readable core :func:`optimizers.asgd.step` (torch 2.13 ``_single_tensor_asgd``
semantics): the same rule, the tensor operations batched or fused. Per parameter, with
:math:`\eta_{t-1}, \mu_{t-1}` read from its state (``eta.item()``, ``mu``):

.. math::

   \begin{aligned}
   g_t          &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                     \\
   t            &\leftarrow t + 1                                                           \\
   g_t          &\leftarrow g_t + w\,\theta_{t-1}          && \text{if } w \ne 0             \\
   \theta       &\leftarrow \theta_{t-1}\,(1 - \lambda\,\eta_{t-1})                          \\
   \theta_t     &\leftarrow \theta + (-\eta_{t-1})\, g_t                                     \\
   \bar\theta_t &\leftarrow \bar\theta_{t-1} + (\theta_t - \bar\theta_{t-1})\,\mu_{t-1}
                   && \text{if } \mu_{t-1} \ne 1                                              \\
   \bar\theta_t &\leftarrow \theta_t                         && \text{if } \mu_{t-1} = 1     \\
   \eta_t       &\leftarrow \gamma \,/\, (1 + \lambda\gamma t)^{\alpha}, \qquad
   \mu_t        \leftarrow 1 \,/\, \max(1,\; t - t_0)   && \text{(stored in place)}
   \end{aligned}

Per element: 20 bytes of float32 traffic (reads :math:`\theta, g, \bar\theta`; writes
:math:`\theta, \bar\theta`). :math:`\eta_t, \mu_t` are computed once per distinct step count
in the bucket and copied into every parameter's 0-d state tensors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import asgd
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    item,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["ASGD", "CompiledASGD"]


def _kernel(
    p: Tensor,
    g: Tensor,
    ax: Tensor,
    s: Tensor,
    *,
    maximize: bool,
    has_wd: bool,
    average: bool,
) -> None:
    r"""One ASGD step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`w, 1-\lambda\eta_{t-1}, -\eta_{t-1}, \mu_{t-1}`.
    """
    wd, decay, neg_eta, mu = (s[i] for i in range(4))
    if maximize:
        g = -g  # g_t (maximize)
    if has_wd:
        g = g + wd * p  # g_t + w theta
    theta = p * decay  # theta (1 - lambda eta_{t-1})
    theta = theta + neg_eta * g  # theta_t
    if average:
        ax.copy_(ax + (theta - ax) * mu)  # bar theta_t
    else:
        ax.copy_(theta)  # bar theta_t = theta_t
    p.copy_(theta)


_COMPILED = CompiledKernel(_kernel)


class ASGD(MultiTensorOptimizer, asgd.ASGD):
    """``optimizers.ASGD`` with one multi-tensor update per param group (same constructor,
    state and results up to the faithful tolerance)."""

    required_state = ("step", "eta", "mu", "ax")

    def _update_bucket(
        self,
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: asgd.ASGDConfig,
    ) -> None:
        steps = [s["step"] for s in sts]
        torch._foreach_add_(steps, 1)  # t
        has_wd = cfg.weight_decay != 0
        etas = [s["eta"].item() for s in sts]  # eta_{t-1} (rounded as stored)
        mus = [s["mu"] for s in sts]  # mu_{t-1}
        average = [mu.item() != 1 for mu in mus]
        ps, gs, axs = real(ps), real(gs), real([s["ax"] for s in sts])
        rest = list(range(len(ps)))
        if self.compiled:
            rest = run_compiled(
                self, _COMPILED, [ps, gs, axs],
                lambda i: (item(cfg.weight_decay), 1 - cfg.lambd * etas[i], -etas[i], item(mus[i])),
                lambda i: dict(maximize=cfg.maximize, has_wd=has_wd, average=average[i]),
                min_numel=self.compile_min_numel,
            )  # fmt: skip
        if rest:
            self._multi_tensor(
                take(ps, rest), take(gs, rest), take(axs, rest), take(etas, rest),
                take(mus, rest), take(average, rest), cfg, has_wd,
            )  # fmt: skip
        # eta_t and mu_t from the current lr, once per distinct step count
        new: dict[float, tuple[Tensor, Tensor]] = {}
        for step_t in steps:
            t = step_t.item()
            if t not in new:
                new[t] = (
                    torch.as_tensor(cfg.lr / ((1 + cfg.lambd * cfg.lr * t) ** cfg.alpha)),  # eta_t
                    torch.as_tensor(1 / max(1, t - cfg.t0)),  # mu_t
                )
        torch._foreach_copy_([s["eta"] for s in sts], [new[t.item()][0] for t in steps])
        torch._foreach_copy_([s["mu"] for s in sts], [new[t.item()][1] for t in steps])

    @staticmethod
    def _multi_tensor(
        ps: list[Tensor],
        gs: list[Tensor],
        axs: list[Tensor],
        etas: list[float],
        mus: list[Tensor],
        average: list[bool],
        cfg: asgd.ASGDConfig,
        has_wd: bool,
    ) -> None:
        """The rule over a whole bucket with ``torch._foreach_*`` operations, in place."""
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        if has_wd:
            gs = list(torch._foreach_add(gs, ps, alpha=cfg.weight_decay))  # g_t + w theta
        torch._foreach_mul_(ps, [1 - cfg.lambd * eta for eta in etas])  # theta
        for eta in dict.fromkeys(etas):  # one call per distinct eta_{t-1} (usually one)
            same = [i for i, e in enumerate(etas) if e == eta]
            torch._foreach_add_(take(ps, same), take(gs, same), alpha=-eta)  # theta_t
        avg = [i for i, a in enumerate(average) if a]
        copy = [i for i, a in enumerate(average) if not a]
        if avg:
            diff = torch._foreach_sub(take(ps, avg), take(axs, avg))
            torch._foreach_mul_(diff, [item(mus[i]) for i in avg])
            torch._foreach_add_(take(axs, avg), diff)  # bar theta_t
        if copy:
            torch._foreach_copy_(take(axs, copy), take(ps, copy))  # bar theta_t = theta_t


class CompiledASGD(ASGD):
    """:class:`ASGD` with the compiled single-pass kernel for large float32/float64
    tensors."""

    compiled = True
