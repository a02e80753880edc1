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

Both norms are global: no element of :math:`\theta_t` can be written before all of
:math:`\theta_{t-1}` and :math:`U_t` have been read, so an exact step is two passes over
memory at least, 32 bytes per float32 element (first pass: read :math:`\theta, g, V`;
second: read them again, write :math:`\theta, V`), not the 20 of a single pass.

* :class:`Adafactor` runs the readable core's tensor operations in place, :math:`g_t^2` and
  :math:`U_t` in one scratch buffer per parameter shape kept by the optimiser (not part of
  its state): the same operations in the same order, without a fresh allocation per step
  (bit for bit with torch's for-loop).
* :class:`CompiledAdafactor` runs those two passes as compiled kernels for float32/float64
  vectors of at least ``compile_min_numel`` elements: :func:`_moments` reads only and
  returns :math:`(\sum\theta_{t-1}^2, \sum U_t^2)` (with :math:`V_t` in registers);
  :func:`_scale` turns them into :math:`-\alpha_t/\delta_t` on the device (never read back
  to Python); :func:`_apply` recomputes :math:`V_t` with the same expression, stores it and
  :math:`\theta_t`. The norms are sums of squares, and :math:`U_t` is recomputed, not
  stored (another rounding order: the faithful tolerance). Matrices (row and column
  factors) take the readable core.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from optverify.optimizers import adafactor
from optverify.optimizers._fast._base import COMPILED_DTYPES, CompiledKernel, lerp

__all__ = ["Adafactor", "CompiledAdafactor"]


def _moments(p: Tensor, g: Tensor, v: Tensor, s: Tensor, *, maximize: bool, low: bool) -> Tensor:
    r"""The first pass (reads only): :math:`(\sum\theta_{t-1}^2, \sum U_t^2)`, with
    :math:`V_t` computed in registers and not stored. ``s`` holds :math:`c_t, \epsilon_1^2`."""
    c_t, eps1_sq = s[0], s[1]
    if maximize:
        g = -g  # g_t (maximize)
    v_new = lerp(v, g * g, c_t, low=low)  # V_t
    u = g * torch.rsqrt(torch.clamp(v_new, min=eps1_sq))  # U_t
    return torch.stack(((p * p).sum(), (u * u).sum()))


def _apply(
    p: Tensor,
    g: Tensor,
    v: Tensor,
    scale: Tensor,
    s: Tensor,
    *,
    maximize: bool,
    low: bool,
    decay: bool,
) -> None:
    r"""The second pass: :math:`V_t` (recomputed, the same expression) and :math:`\theta_t`
    in place; ``scale`` is the 1-element :math:`-\alpha_t/\delta_t` (:func:`_scale`). ``s``
    holds :math:`c_t, \epsilon_1^2, 1-\gamma\lambda`."""
    c_t, eps1_sq, factor = s[0], s[1], s[2]
    if maximize:
        g = -g  # g_t (maximize)
    v_new = lerp(v, g * g, c_t, low=low)  # V_t
    u = g * torch.rsqrt(torch.clamp(v_new, min=eps1_sq))  # U_t
    theta = p * factor if decay else p  # theta (1 - gamma lambda)
    p.copy_(theta + scale[0] * u)  # theta_t
    v.copy_(v_new)


def _scale(sums: Tensor, numel: int, rho: float, cfg: adafactor.AdafactorConfig) -> Tensor:
    r""":math:`-\alpha_t/\delta_t` from the first pass's sums, on their device, in float64
    (the readable core's Python arithmetic), as a 1-element tensor of their dtype. Python's
    ``max(a, x)`` is ``x if x > a else a`` (a NaN norm gives ``a``), hence ``where``, not
    ``clamp`` (which would propagate the NaN)."""
    root = sums.double().sqrt() / (numel**0.5)  # RMS(theta_{t-1}), RMS(U_t)
    rms_theta, ratio = root[0:1], root[1:2] / cfg.d
    alpha = torch.where(rms_theta > cfg.eps2, rms_theta, cfg.eps2) * rho  # alpha_t
    clip = torch.where(ratio > 1.0, ratio, 1.0)  # delta_t
    return (-alpha / clip).to(sums.dtype)


class _Reduction:
    """A compiled kernel that returns its (small) result tensor."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self._compiled: Any = None

    def __call__(self, tensors: list[Tensor], scalars: list[float], **flags: bool) -> Tensor:
        if self._compiled is None:
            self._compiled = torch.compile(
                self.fn, fullgraph=True, dynamic=True, options=CompiledKernel.options
            )
        s = torch.tensor(scalars, dtype=tensors[0].dtype, device=tensors[0].device)
        result: Tensor = self._compiled(*tensors, s, **flags)
        return result


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
        use_compiled = (
            self.compiled
            and p.numel() >= max(self.compile_min_numel, 2)
            and p.dtype in COMPILED_DTYPES
            and p.is_contiguous()
            and grad.is_contiguous()
            and v.is_contiguous()
        )
        step_t.add_(1)  # t
        t = step_t.item()
        c_t, rho = adafactor.schedule(t, cfg)  # c_t, rho_t
        if use_compiled:
            flags = {"maximize": cfg.maximize, "low": c_t < 0.5}
            sums = _MOMENTS([p, grad, v], [c_t, eps1 * eps1], **flags)
            decay = cfg.weight_decay != 0
            factor = float(1 - cfg.lr * cfg.weight_decay) if decay else 1.0
            scale = _scale(sums, p.numel(), float(rho), cfg)
            _APPLY([p, grad, v, scale], [c_t, eps1 * eps1, factor], decay=decay, **flags)
            return
        alpha = max(cfg.eps2, p.norm(2).item() / (p.numel() ** 0.5)) * rho  # alpha_t
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
