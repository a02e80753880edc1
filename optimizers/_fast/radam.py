r"""Fast RAdam: multi-tensor and compiled paths of :func:`optimizers.radam.step`.

Mirrors the readable core :func:`optimizers.radam.step` (torch 2.13 ``_single_tensor_radam``
semantics): the same rule, the tensor operations batched or fused. Per parameter, with
:math:`t` its own step count (products left to right, as the readable core computes them):

.. math::

   \begin{aligned}
   g_t        &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                       \\
   t          &\leftarrow t + 1                                                             \\
   \theta     &\leftarrow \theta_{t-1}(1 - \gamma\lambda)  && \lambda\ne0 \text{, decoupled} \\
   g_t        &\leftarrow g_t + \lambda\,\theta_{t-1}       && \lambda\ne0 \text{, coupled} \\
   m_t        &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)                        \\
   v_t        &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2                               \\
   \hat m_t   &\leftarrow m_t / c_1, \qquad c_{1,2} = 1 - \beta_{1,2}^{\,t}                    \\
   \text{if } \rho_t > 5:& \quad (\rho_t, r_t \text{ as in the readable core, Python doubles}) \\
   a_t        &\leftarrow (\sqrt{v_t} + \epsilon)^{-1} \cdot \sqrt{c_2}                       \\
   \theta_t   &\leftarrow \theta - ((\hat m_t\,\gamma)\, a_t)\, r_t                           \\
   \text{else}:& \\
   \theta_t   &\leftarrow \theta - \hat m_t\,\gamma
   \end{aligned}

Per element: 28 bytes of float32 traffic. Whether a parameter is rectified depends on its
own step count, so one bucket may hold both kinds (the multi-tensor path splits it). The
compiled kernel multiplies by :math:`1/c_1` (a Python double) instead of dividing by
:math:`c_1`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import radam
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    item,
    lerp,
    per_step,
    real,
    step_values,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["CompiledRAdam", "RAdam"]


def _kernel(
    p: Tensor,
    g: Tensor,
    m: Tensor,
    v: Tensor,
    s: Tensor,
    *,
    maximize: bool,
    low: bool,
    coupled: bool,
    decoupled: bool,
    rectified: bool,
) -> None:
    r"""One RAdam step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`1-\gamma\lambda, \lambda, 1-\beta_1, \beta_2, 1-\beta_2, 1/c_1,
    \gamma, \sqrt{c_2}, \epsilon, r_t`.
    """
    decay, wd, w1, beta2, w2, inv_bc1, lr, bc2_sqrt, eps, rect = (s[i] for i in range(10))
    if maximize:
        g = -g  # g_t (maximize)
    if coupled:
        g = g + wd * p  # g_t + lambda theta
    theta = p * decay if decoupled else p  # theta (1 - gamma lambda)
    m_new = lerp(m, g, w1, low=low)  # m_t
    v_new = v * beta2 + w2 * g * g  # v_t
    m_hat = m_new * inv_bc1  # hat m_t
    if rectified:
        adaptive_lr = bc2_sqrt / (v_new.sqrt() + eps)  # a_t
        p.copy_(theta - m_hat * lr * adaptive_lr * rect)  # theta_t
    else:
        p.copy_(theta - m_hat * lr)  # theta_t
    m.copy_(m_new)
    v.copy_(v_new)


_COMPILED = CompiledKernel(_kernel)


class RAdam(MultiTensorOptimizer, radam.RAdam):
    """``optimizers.RAdam`` with one multi-tensor update per param group (same constructor,
    state and results up to the faithful tolerance)."""

    required_state = ("step", "exp_avg", "exp_avg_sq")

    def _update_bucket(
        self,
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: radam.RAdamConfig,
    ) -> None:
        steps = [s["step"] for s in sts]
        torch._foreach_add_(steps, 1)  # t
        bc1s, bc2_sqrts, rects = [], [], []
        for bias_correction1, bias_correction2, rect in per_step(
            step_values(steps), lambda t: radam.rectification(t, cfg)
        ):  # c_1, c_2, r_t: the readable core's function
            bc1s.append(bias_correction1)
            bc2_sqrts.append(bias_correction2**0.5)
            rects.append(rect)
        decoupled = cfg.weight_decay != 0 and cfg.decoupled_weight_decay
        coupled = cfg.weight_decay != 0 and not cfg.decoupled_weight_decay
        decay = item(1 - cfg.lr * cfg.weight_decay) if decoupled else 1.0
        w1, w2, lr = 1 - cfg.beta1, 1 - cfg.beta2, item(cfg.lr)
        ps, gs = real(ps), real(gs)
        ms, vs = real([s["exp_avg"] for s in sts]), real([s["exp_avg_sq"] for s in sts])
        rest = list(range(len(ps)))
        if self.compiled:
            rest = run_compiled(
                self, _COMPILED, [ps, gs, ms, vs],
                lambda i: (decay, cfg.weight_decay, w1, cfg.beta2, w2, 1 / bc1s[i], lr,
                           bc2_sqrts[i], cfg.eps, rects[i] or 1.0),
                lambda i: dict(maximize=cfg.maximize, low=w1 < 0.5, coupled=coupled,
                               decoupled=decoupled, rectified=rects[i] is not None),
                min_numel=self.compile_min_numel,
            )  # fmt: skip
        if not rest:
            return
        ps, gs, ms, vs = (take(x, rest) for x in (ps, gs, ms, vs))
        bc1s, bc2_sqrts, rects = (take(x, rest) for x in (bc1s, bc2_sqrts, rects))
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        if coupled:
            gs = list(torch._foreach_add(gs, ps, alpha=cfg.weight_decay))  # g_t + lambda theta
        elif decay != 1.0:
            torch._foreach_mul_(ps, decay)  # theta (1 - gamma lambda)
        torch._foreach_lerp_(ms, gs, w1)  # m_t
        torch._foreach_mul_(vs, cfg.beta2)
        torch._foreach_addcmul_(vs, gs, gs, w2)  # v_t
        update = torch._foreach_div(ms, bc1s)  # hat m_t
        torch._foreach_mul_(update, lr)  # hat m_t gamma
        rectified = [i for i, r in enumerate(rects) if r is not None]
        if rectified:
            # 1/a_t = (sqrt(v) + eps)/sqrt(c_2), divided by rather than a reciprocal times:
            # in float16 1/eps overflows (eps = 1e-6) where sqrt(c_2)/(sqrt(v) + eps) does not
            inverse_lr = torch._foreach_sqrt(take(vs, rectified))
            torch._foreach_add_(inverse_lr, cfg.eps)
            torch._foreach_div_(inverse_lr, take(bc2_sqrts, rectified))  # 1 / a_t
            torch._foreach_div_(take(update, rectified), inverse_lr)
            torch._foreach_mul_(take(update, rectified), take(rects, rectified))
        torch._foreach_sub_(ps, update)  # theta_t


class CompiledRAdam(RAdam):
    """:class:`RAdam` with the compiled single-pass kernel for large float32/float64
    tensors."""

    compiled = True
