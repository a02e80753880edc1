r"""Fast Adam and AdamW: multi-tensor and compiled paths of :func:`optimizers.adam.step`.

Mirrors the readable core :func:`optimizers.adam.step` (torch 2.13 ``_single_tensor_adam``
semantics): the same rule, the same Python expressions for the scalars, the tensor
operations fused or batched. Per parameter, with :math:`t` its own step count:

.. math::

   \begin{aligned}
   t        &\leftarrow t + 1                                                              \\
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                         \\
   \theta   &\leftarrow \theta_{t-1}(1 - \gamma\lambda)  && \text{decoupled, } \lambda\ne0 \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}       && \text{coupled, } \lambda\ne0   \\
   m_t      &\leftarrow \operatorname{lerp}(m_{t-1}, g_t, 1-\beta_1)                          \\
   v_t      &\leftarrow \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2                                  \\
   v^{\max}_t &\leftarrow \max(v^{\max}_{t-1}, v_t)         && \text{if amsgrad}              \\
   d_t      &\leftarrow \sqrt{v_t} \,/\, \sqrt{1-\beta_2^t} + \epsilon
              \quad (v^{\max}_t \text{ in place of } v_t \text{ if amsgrad})                 \\
   \theta_t &\leftarrow \theta + \Bigl(-\frac{\gamma}{1-\beta_1^t}\Bigr)\,(m_t / d_t)
   \end{aligned}

Each line is one ``torch._foreach_*`` call in :func:`_multi_tensor` and one expression in
:func:`_kernel` (the compiled path), which reads and writes every element once: per element
28 bytes of float32 traffic (36 with amsgrad). Whether a parameter follows the amsgrad line
is decided, as in the readable core, by the presence of ``max_exp_avg_sq`` in its state; a
state that disagrees with the group's ``amsgrad`` flag takes the readable core. The compiled
kernel multiplies by :math:`1/\sqrt{1-\beta_2^t}` (a Python double) instead of dividing by
:math:`\sqrt{1-\beta_2^t}`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from optverify.optimizers import adam
from optverify.optimizers._fast._base import (
    CompiledKernel,
    MultiTensorOptimizer,
    advance_steps,
    item,
    lerp,
    per_step,
    real,
    take,
)
from optverify.optimizers._fast._group import run_compiled

__all__ = ["Adam", "AdamW", "CompiledAdam", "CompiledAdamW"]


def _kernel(
    p: Tensor,
    g: Tensor,
    m: Tensor,
    v: Tensor,
    v_max: Tensor | None,
    s: Tensor,
    *,
    maximize: bool,
    low: bool,
    coupled: bool,
    decoupled: bool,
) -> None:
    r"""One Adam step on one flat tensor, in place (compiled into a single loop).

    ``s`` holds :math:`1-\gamma\lambda, \lambda, 1-\beta_1, \beta_2, 1-\beta_2,
    1/\sqrt{1-\beta_2^t}, \epsilon, -\gamma/(1-\beta_1^t)`.
    """
    decay, wd, w1, beta2, w2, inv_bc2_sqrt, eps, neg_step_size = (s[i] for i in range(8))
    if maximize:
        g = -g  # g_t (maximize)
    if coupled:
        g = g + wd * p  # g_t + lambda theta
    theta = p * decay if decoupled else p  # theta (1 - gamma lambda)
    m_new = lerp(m, g, w1, low=low)  # m_t
    v_new = v * beta2 + w2 * g * g  # v_t
    if v_max is not None:
        v_max_new = torch.maximum(v_max, v_new)  # v^max_t
        d = v_max_new.sqrt() * inv_bc2_sqrt + eps  # d_t
        v_max.copy_(v_max_new)
    else:
        d = v_new.sqrt() * inv_bc2_sqrt + eps  # d_t
    p.copy_(theta + neg_step_size * (m_new / d))  # theta_t
    m.copy_(m_new)
    v.copy_(v_new)


_COMPILED = CompiledKernel(_kernel)


class Adam(MultiTensorOptimizer, adam.Adam):
    """``optimizers.Adam`` with one multi-tensor update per param group (same constructor,
    state and results up to the faithful tolerance)."""

    required_state = ("step", "exp_avg", "exp_avg_sq")

    def _eligible(self, p: Tensor, grad: Tensor, state: dict[str, Any], cfg: Any) -> bool:
        has_max = state.get("max_exp_avg_sq") is not None
        return has_max == cfg.amsgrad and super()._eligible(p, grad, state, cfg)

    def _update_bucket(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        cfg: adam.AdamConfig,
    ) -> None:
        _update_bucket(self, params, grads, states, cfg)


def _update_bucket(
    opt: MultiTensorOptimizer,
    params: list[Tensor],
    grads: list[Tensor],
    states: list[dict[str, Any]],
    cfg: adam.AdamConfig,
) -> None:
    steps = [s["step"] for s in states]
    ps, gs = real(params), real(grads)
    ms = real([s["exp_avg"] for s in states])
    vs = real([s["exp_avg_sq"] for s in states])
    maxs = real([s["max_exp_avg_sq"] for s in states]) if cfg.amsgrad else None
    # The scalars, with the readable core's expressions (tensor hyperparameters included).
    beta1 = cfg.beta1
    if isinstance(beta1, Tensor):
        beta1 = beta1.to(device=ps[0].device, dtype=ps[0].dtype)
    w1 = item(1 - beta1)
    w2 = item(1 - cfg.beta2)
    decoupled = cfg.weight_decay != 0 and cfg.decoupled_weight_decay
    coupled = cfg.weight_decay != 0 and not cfg.decoupled_weight_decay
    decay = item(1 - cfg.lr * cfg.weight_decay) if decoupled else 1.0
    # the readable core's scalar function, once per distinct step count
    scalars = per_step(advance_steps(opt, steps), lambda t: adam.bias_corrections(t, cfg))  # t
    neg_step_sizes = [-item(step_size) for step_size, _ in scalars]
    bc2_sqrts = [item(bc2_sqrt) for _, bc2_sqrt in scalars]
    rest = list(range(len(ps)))
    if opt.compiled:
        consts, eps = (decay, item(cfg.weight_decay), w1, item(cfg.beta2), w2), item(cfg.eps)
        rest = run_compiled(
            opt, _COMPILED, [ps, gs, ms, vs, maxs or [None] * len(ps)],
            lambda i: (*consts, 1 / bc2_sqrts[i], eps, neg_step_sizes[i]),
            {"maximize": cfg.maximize, "low": w1 < 0.5, "coupled": coupled,
             "decoupled": decoupled},
            min_numel=opt.compile_min_numel,
        )  # fmt: skip
    if rest:
        _multi_tensor(
            take(ps, rest), take(gs, rest), take(ms, rest), take(vs, rest),
            take(maxs, rest) if maxs is not None else None, cfg, w1, w2, decay, coupled,
            take(bc2_sqrts, rest), take(neg_step_sizes, rest),
        )  # fmt: skip


def _multi_tensor(
    ps: list[Tensor],
    gs: list[Tensor],
    ms: list[Tensor],
    vs: list[Tensor],
    maxs: list[Tensor] | None,
    cfg: adam.AdamConfig,
    w1: float,
    w2: float,
    decay: float,
    coupled: bool,
    bc2_sqrts: list[float],
    neg_step_sizes: list[float],
) -> None:
    """The rule over a whole bucket with ``torch._foreach_*`` operations, in place."""
    if cfg.maximize:
        gs = list(torch._foreach_neg(gs))  # g_t (maximize)
    if coupled:
        gs = list(torch._foreach_add(gs, ps, alpha=cfg.weight_decay))  # g_t + lambda theta
    elif decay != 1.0:
        torch._foreach_mul_(ps, decay)  # theta (1 - gamma lambda)
    torch._foreach_lerp_(ms, gs, w1)  # m_t
    torch._foreach_mul_(vs, item(cfg.beta2))
    torch._foreach_addcmul_(vs, gs, gs, w2)  # v_t
    if maxs is not None:
        torch._foreach_maximum_(maxs, vs)  # v^max_t
        denom = torch._foreach_sqrt(maxs)
    else:
        denom = torch._foreach_sqrt(vs)
    torch._foreach_div_(denom, bc2_sqrts)
    torch._foreach_add_(denom, cfg.eps)  # d_t
    torch._foreach_addcdiv_(ps, ms, denom, neg_step_sizes)  # theta_t


class AdamW(Adam, adam.AdamW):
    """``optimizers.AdamW`` with one multi-tensor update per param group."""


class CompiledAdam(Adam):
    """:class:`Adam` with the compiled single-pass kernel for large float32/float64 tensors."""

    compiled = True


class CompiledAdamW(AdamW):
    """:class:`AdamW` with the compiled single-pass kernel for large float32/float64 tensors."""

    compiled = True
