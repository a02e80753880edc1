r"""Fast NAdam: multi-tensor and compiled paths of :func:`optimizers.nadam.step`.

Mirrors the readable core :func:`optimizers.nadam.step` with ``differentiable=False``
(torch 2.13 ``_single_tensor_nadam`` semantics); a group with ``differentiable=True`` takes
the readable core (its other operation order). Per parameter, with :math:`t` its own step
count and :math:`\Pi` its ``mu_product``:

.. math::

   \begin{aligned}
   g_t       &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                        \\
   t         &\leftarrow t + 1, \qquad c_2 \leftarrow 1 - \beta_2^{\,t}                      \\
   \theta    &\leftarrow \theta_{t-1}(1 - \gamma\lambda)  && \lambda\ne0 \text{, decoupled} \\
   g_t       &\leftarrow g_t + \lambda\,\theta_{t-1}       && \lambda\ne0 \text{, coupled} \\
   \mu_t, \mu_{t+1} &\leftarrow \beta_1\bigl(1 - \tfrac12\, 0.96^{\,t\psi}\bigr),\
                      \beta_1\bigl(1 - \tfrac12\, 0.96^{\,(t+1)\psi}\bigr)                   \\
   \Pi_t     &\leftarrow \Pi_{t-1}\,\mu_t   && \text{(0-d tensor, in place)}               \\
   m_t       &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)                         \\
   v_t       &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2                                \\
   d_t       &\leftarrow \sqrt{v_t / c_2} + \epsilon                                          \\
   \theta    &\leftarrow \theta + \frac{-\gamma(1-\mu_t)}{1-\Pi_t}\,(g_t / d_t)                \\
   \theta_t  &\leftarrow \theta + \frac{-\gamma\,\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\,(m_t / d_t)
   \end{aligned}

Per element: 28 bytes of float32 traffic. The scalars are the readable core's Python doubles
(:math:`\Pi_t` read back with ``item()`` after its float32 update). The compiled kernel
multiplies by :math:`1/c_2` (a Python double) instead of dividing by :math:`c_2`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import nadam
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    item,
    lerp,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["CompiledNAdam", "NAdam"]


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
) -> None:
    r"""One NAdam step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`1-\gamma\lambda, \lambda, 1-\beta_1, \beta_2, 1-\beta_2, 1/c_2,
    \epsilon` and the two step sizes.
    """
    decay, wd, w1, beta2, w2, inv_bc2, eps, coef_g, coef_m = (s[i] for i in range(9))
    if maximize:
        g = -g  # g_t (maximize)
    if coupled:
        g = g + wd * p  # g_t + lambda theta
    theta = p * decay if decoupled else p  # theta (1 - gamma lambda)
    m_new = lerp(m, g, w1, low=low)  # m_t
    v_new = v * beta2 + w2 * g * g  # v_t
    d = (v_new * inv_bc2).sqrt() + eps  # d_t
    theta = theta + coef_g * (g / d)  # theta
    p.copy_(theta + coef_m * (m_new / d))  # theta_t
    m.copy_(m_new)
    v.copy_(v_new)


_COMPILED = CompiledKernel(_kernel)


class NAdam(MultiTensorOptimizer, nadam.NAdam):
    """``optimizers.NAdam`` with one multi-tensor update per param group (same constructor,
    state and results up to the faithful tolerance)."""

    required_state = ("step", "mu_product", "exp_avg", "exp_avg_sq")

    def _fast_supports(self, cfg: Any) -> bool:
        return not cfg.differentiable

    def _update_bucket(
        self,
        ps: list[Tensor],
        gs: list[Tensor],
        sts: list[dict[str, Any]],
        cfg: nadam.NAdamConfig,
    ) -> None:
        steps = [s["step"] for s in sts]
        torch._foreach_add_(steps, 1)  # t
        bc2s, coefs_g, coefs_m = [], [], []
        for step_t, s in zip(steps, sts, strict=True):
            t = step_t.item()
            bc2s.append(1 - cfg.beta2**t)  # c_2
            mu = cfg.beta1 * (1.0 - 0.5 * (0.96 ** (t * cfg.momentum_decay)))  # mu_t
            mu_next = cfg.beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * cfg.momentum_decay)))
            mu_product = s["mu_product"]
            mu_product.copy_((mu_product * mu).to(mu_product.dtype))  # Pi_t
            pi = mu_product.item()
            coefs_g.append(item(-cfg.lr * (1.0 - mu) / (1.0 - pi)))
            coefs_m.append(item((-cfg.lr * mu_next) / (1.0 - pi * mu_next)))
        decoupled = cfg.weight_decay != 0 and cfg.decoupled_weight_decay
        coupled = cfg.weight_decay != 0 and not cfg.decoupled_weight_decay
        decay = item(1 - cfg.lr * cfg.weight_decay) if decoupled else 1.0
        w1, w2 = 1 - cfg.beta1, 1 - cfg.beta2
        ps, gs = real(ps), real(gs)
        ms, vs = real([s["exp_avg"] for s in sts]), real([s["exp_avg_sq"] for s in sts])
        rest = list(range(len(ps)))
        if self.compiled:
            rest = run_compiled(
                self, _COMPILED, [ps, gs, ms, vs],
                lambda i: (decay, cfg.weight_decay, w1, cfg.beta2, w2, 1 / bc2s[i], cfg.eps,
                 coefs_g[i], coefs_m[i]),
                dict(maximize=cfg.maximize, low=w1 < 0.5, coupled=coupled, decoupled=decoupled),
                min_numel=self.compile_min_numel,
            )  # fmt: skip
        if not rest:
            return
        ps, gs, ms, vs = (take(x, rest) for x in (ps, gs, ms, vs))
        bc2s, coefs_g, coefs_m = (take(x, rest) for x in (bc2s, coefs_g, coefs_m))
        if cfg.maximize:
            gs = list(torch._foreach_neg(gs))  # g_t (maximize)
        if coupled:
            gs = list(torch._foreach_add(gs, ps, alpha=cfg.weight_decay))  # g_t + lambda theta
        elif decay != 1.0:
            torch._foreach_mul_(ps, decay)  # theta (1 - gamma lambda)
        torch._foreach_lerp_(ms, gs, w1)  # m_t
        torch._foreach_mul_(vs, cfg.beta2)
        torch._foreach_addcmul_(vs, gs, gs, w2)  # v_t
        denom = torch._foreach_div(vs, bc2s)
        torch._foreach_sqrt_(denom)
        torch._foreach_add_(denom, cfg.eps)  # d_t
        torch._foreach_addcdiv_(ps, gs, denom, coefs_g)  # theta
        torch._foreach_addcdiv_(ps, ms, denom, coefs_m)  # theta_t


class CompiledNAdam(NAdam):
    """:class:`NAdam` with the compiled single-pass kernel for large float32/float64
    tensors."""

    compiled = True
