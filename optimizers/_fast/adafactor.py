r"""Fast Adafactor for vectors: in-place and compiled paths of :func:`optimizers.adafactor.step`.

Mirrors the readable core :func:`optimizers.adafactor.step` (torch 2.13
``_single_tensor_adafactor`` semantics) for parameters of at most one dimension, whose
second moment :math:`V` is kept whole; matrices (row and column factors) take the readable
core. Per parameter, with :math:`t` its own step count and :math:`n` its number of elements:

.. math::

   \begin{aligned}
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                       \\
   t        &\leftarrow t + 1, \quad c_t \leftarrow t^{\tau}, \quad
              \rho_t \leftarrow \min(\gamma, 1/\sqrt{t})                                    \\
   \alpha_t &\leftarrow \max(\epsilon_2, \lVert\theta_{t-1}\rVert / \sqrt{n})\, \rho_t       \\
   \theta   &\leftarrow \theta_{t-1}(1 - \gamma\lambda)         && \text{if } \lambda \ne 0 \\
   V_t      &\leftarrow \operatorname{lerp}(V_{t-1}, g_t^2, c_t)                            \\
   U_t      &\leftarrow g_t / \sqrt{\max(V_t, \epsilon_1^2)}                                \\
   \delta_t &\leftarrow \max(1, \lVert U_t\rVert / (\sqrt{n}\, d))                          \\
   \theta_t &\leftarrow \theta + (-\alpha_t/\delta_t)\, U_t
   \end{aligned}

The two norms are read back as Python numbers (they decide :math:`\alpha_t` and
:math:`\delta_t`), so a step is three passes over memory at least: :math:`\lVert\theta\rVert`;
:math:`V_t` with :math:`\lVert U_t\rVert`; the update.

* :class:`Adafactor` runs the readable core's tensor operations in place, :math:`g_t^2` and
  :math:`U_t` in one scratch buffer per parameter shape kept by the optimiser (not part of
  its state): the same operations in the same order, without a fresh allocation per step.
* :class:`CompiledAdafactor` compiles the second and third passes (:func:`_moments`,
  :func:`_apply`) for float32/float64 vectors of at least ``compile_min_numel`` elements:
  :math:`\lVert U_t\rVert` is computed as :math:`\sqrt{\sum U_t^2}` and :math:`U_t` is
  recomputed in the update instead of stored (another rounding order: the faithful
  tolerance).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from optimizers import adafactor
from optimizers._fast._base import COMPILED_DTYPES, CompiledKernel, lerp

__all__ = ["Adafactor", "CompiledAdafactor"]


def _moments(g: Tensor, v: Tensor, s: Tensor, *, maximize: bool, low: bool) -> Tensor:
    r""":math:`V_t` in place; returns :math:`\sum U_t^2`. ``s`` holds :math:`c_t,
    \epsilon_1^2`."""
    c_t, eps1_sq = s[0], s[1]
    if maximize:
        g = -g  # g_t (maximize)
    v_new = lerp(v, g * g, c_t, low=low)  # V_t
    v.copy_(v_new)
    u = g * torch.rsqrt(torch.clamp(v_new, min=eps1_sq))  # U_t
    return (u * u).sum()


def _apply(p: Tensor, g: Tensor, v: Tensor, s: Tensor, *, maximize: bool, decay: bool) -> None:
    r""":math:`\theta_t` in place. ``s`` holds :math:`\epsilon_1^2, 1-\gamma\lambda,
    -\alpha_t/\delta_t`."""
    eps1_sq, factor, neg_step = s[0], s[1], s[2]
    if maximize:
        g = -g
    u = g * torch.rsqrt(torch.clamp(v, min=eps1_sq))  # U_t
    theta = p * factor if decay else p  # theta (1 - gamma lambda)
    p.copy_(theta + neg_step * u)  # theta_t


class _Reduction:
    """A compiled kernel that returns its reduction as a Python number."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self._compiled: Any = None

    def __call__(self, tensors: list[Tensor], scalars: list[float], **flags: bool) -> float:
        if self._compiled is None:
            self._compiled = torch.compile(
                self.fn, fullgraph=True, dynamic=True, options=CompiledKernel.options
            )
        s = torch.tensor(scalars, dtype=tensors[0].dtype, device=tensors[0].device)
        return float(self._compiled(*(t.view(-1) for t in tensors), s, **flags))


_MOMENTS = _Reduction(_moments)
_APPLY = CompiledKernel(_apply)


class Adafactor(adafactor.Adafactor):
    """``optimizers.Adafactor`` with vectors updated in place (same constructor, state and
    results as the readable class)."""

    #: run the compiled kernels (for vectors of at least ``compile_min_numel`` elements)
    compiled: ClassVar[bool] = False
    compile_min_numel: ClassVar[int] = 2**16

    def _scratch(self, like: Tensor) -> Tensor:
        """A reusable buffer shaped like ``like`` (one per shape, dtype and device)."""
        buffers: dict[tuple[Any, ...], Tensor] = self.__dict__.setdefault("_scratch_buffers", {})
        key = (tuple(like.shape), like.dtype, like.device)
        if key not in buffers:
            buffers[key] = torch.empty_like(like, memory_format=torch.contiguous_format)
        return buffers[key]

    def _update_param(self, p: Tensor, cfg: adafactor.AdafactorConfig) -> None:
        grad = p.grad
        assert grad is not None
        state = self.state[p]
        v = state.get("variance")
        if not (
            grad.dim() <= 1
            and isinstance(v, Tensor)
            and p.is_floating_point()
            and grad.dtype is p.dtype
            and v.dtype is p.dtype
            and grad.shape == p.shape == v.shape
            and grad.layout is torch.strided
        ):
            super()._update_param(p, cfg)
            return
        eps1 = torch.finfo(p.dtype).eps if cfg.eps1 is None else cfg.eps1  # epsilon_1
        step_t = state["step"]
        step_t.add_(1)  # t
        t = step_t.item()
        c_t = t**cfg.beta2_decay  # c_t
        rho = min(cfg.lr, 1 / (t**0.5))  # rho_t
        alpha = max(cfg.eps2, p.norm(2).item() / (p.numel() ** 0.5)) * rho  # alpha_t
        use_compiled = (
            self.compiled
            and p.numel() >= max(self.compile_min_numel, 2)
            and p.dtype in COMPILED_DTYPES
            and p.is_contiguous()
            and grad.is_contiguous()
            and v.is_contiguous()
        )
        if use_compiled:
            flags = {"maximize": cfg.maximize}
            sum_u2 = _MOMENTS([grad, v], [c_t, eps1 * eps1], low=c_t < 0.5, **flags)
            clip = max(1.0, sum_u2**0.5 / ((p.numel() ** 0.5) * cfg.d))  # delta_t
            decay = cfg.weight_decay != 0
            factor = float(1 - cfg.lr * cfg.weight_decay) if decay else 1.0
            _APPLY([p, grad, v], [eps1 * eps1, factor, float(-alpha / clip)], decay=decay, **flags)
            return
        g = -grad if cfg.maximize else grad  # g_t (maximize)
        if cfg.weight_decay != 0:
            p.mul_(1 - cfg.lr * cfg.weight_decay)  # theta (1 - gamma lambda)
        u = self._scratch(p)
        torch.mul(g, g, out=u)
        v.lerp_(u, c_t)  # V_t
        torch.clamp(v, min=eps1 * eps1, out=u)
        u.rsqrt_().mul_(g)  # U_t
        clip = max(1.0, u.norm(2).item() / ((u.numel() ** 0.5) * cfg.d))  # delta_t
        p.add_(u, alpha=-alpha / clip)  # theta_t


class CompiledAdafactor(Adafactor):
    """:class:`Adafactor` with the compiled kernels for large float32/float64 vectors."""

    compiled = True
