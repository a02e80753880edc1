r"""Fast Adafactor: in-place and compiled paths of :func:`optimizers.adafactor.step`.

Mirrors the readable core :func:`optimizers.adafactor.step` (torch 2.13
``_single_tensor_adafactor`` semantics), one parameter at a time. Per parameter, with
:math:`t` its own step count, :math:`n` its number of elements and, for a matrix (two or
more dimensions, factored over the last two: :math:`r` rows, :math:`k` columns),
:math:`R` and :math:`C` its row and column factors:

.. math::

   \begin{aligned}
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                       \\
   t        &\leftarrow t + 1, \quad c_t \leftarrow t^{\tau}, \quad
              \rho_t \leftarrow \min(\gamma, 1/\sqrt{t})                                    \\
   \alpha_t &\leftarrow \max(\epsilon_2, \lVert\theta_{t-1}\rVert / \sqrt{n})\, \rho_t       \\
   \theta   &\leftarrow \theta_{t-1}(1 - \gamma\lambda)         && \text{if } \lambda \ne 0 \\
   \hat V_t &\leftarrow \operatorname{lerp}(V_{t-1}, g_t^2, c_t)  && \text{(vector)}        \\
   R_t      &\leftarrow \operatorname{lerp}(R_{t-1}, \textstyle\sum_{\text{row}} g_t^2/k, c_t),
   \quad C_t \leftarrow \operatorname{lerp}(C_{t-1}, \textstyle\sum_{\text{col}} g_t^2/r, c_t)
              && \text{(matrix)}                                                           \\
   \hat V_t &\leftarrow R_t C_t / \max(\operatorname{mean}(R_t), \epsilon_1)
              && \text{(matrix)}                                                           \\
   U_t      &\leftarrow g_t / \sqrt{\max(\hat V_t, \epsilon_1^2)}                           \\
   \delta_t &\leftarrow \max(1, \lVert U_t\rVert / (\sqrt{n}\, d))                          \\
   \theta_t &\leftarrow \theta + (-\alpha_t/\delta_t)\, U_t
   \end{aligned}

Both norms are global: no element of :math:`\theta_t` can be written before all of
:math:`\theta_{t-1}` and :math:`U_t` have been read, so an exact step is two passes over
memory at least (a vector: 32 bytes per float32 element; first pass: read :math:`\theta, g,
V`; second: read them again, write :math:`\theta, V`).

* :class:`Adafactor` runs the readable core's tensor operations in place, the full-size
  temporaries (:math:`g_t^2`, :math:`\hat V_t`, :math:`U_t`) in one scratch buffer per
  parameter shape kept by the optimiser (not part of its state): the same operations in the
  same order, without a fresh allocation per step (bit for bit with torch's for-loop).
* :class:`CompiledAdafactor` runs compiled kernels for float32/float64 parameters of at
  least ``compile_min_numel`` elements (smaller ones take the in-place path). Each step
  reads :math:`\theta` for :math:`\lVert\theta_{t-1}\rVert` with torch's own norm, the
  readable core's ``p.norm(2)`` (so :math:`\alpha_t` is its number bit for bit; a norm
  carried over from the last step would miss a write through ``p.data``, which no version
  counter sees). A vector: :func:`_vector_sums` reads :math:`g, V` and returns
  :math:`\sum U_t^2` (:math:`V_t` in registers, :math:`U_t^2` as
  :math:`g_t^2/\max(V_t, \epsilon_1^2)`, no square root); :func:`_scale` turns the norm and
  the sum into :math:`-\alpha_t/\delta_t` (on the CPU with Python's arithmetic, on an
  accelerator on the device, never read back);
  :func:`_vector_apply` recomputes :math:`V_t` with the same expression and stores it and
  :math:`\theta_t` (32 bytes per element in all: two passes). A matrix: :func:`_factor_cols`
  reads :math:`g` for :math:`C_t`; :func:`_factor_rows` reads it again for :math:`R_t` and
  the row sums :math:`T_i = \sum_j g_{ij}^2/C_j`, from which :math:`\sum U_t^2` follows
  where no element of :math:`\hat V_t` is clamped (else :func:`_factor_norm` reads :math:`g`
  a third time); :func:`_factor_apply` reads :math:`\theta, g` and writes :math:`\theta_t`
  (24 bytes per element in all). :math:`\sum U_t^2` is a sum of squares, the row and column
  means sums over :math:`k` and :math:`r`, :math:`\hat V_t` divided by the mean of
  :math:`R_t` a product with its reciprocal (another rounding order: the faithful
  tolerance).

Shazeer & Stern, *Adafactor: Adaptive Learning Rates with Sublinear Memory Cost*, ICML 2018.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor

from optverify.optimizers import adafactor
from optverify.optimizers._fast._base import COMPILED_DTYPES, compile_variant, lerp

__all__ = ["Adafactor", "CompiledAdafactor"]


def _vector_sums(g: Tensor, v: Tensor, s: Tensor, *, low: bool) -> Tensor:
    r"""A vector's first pass (reads :math:`g, V` only): :math:`\sum U_t^2` (1 element);
    :math:`V_t` is computed in registers and not stored, :math:`U_t^2` as
    :math:`g_t^2/\max(V_t, \epsilon_1^2)`. ``s`` holds :math:`c_t, \epsilon_1^2`."""
    c_t, eps1_sq = s[0], s[1]
    g2 = g * g
    v_new = lerp(v, g2, c_t, low=low)  # V_t
    return (g2 / torch.clamp(v_new, min=eps1_sq)).sum().reshape(1)  # sum U_t^2


def _vector_apply(
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
    r"""A vector's second pass: :math:`V_t` (recomputed, the same expression) and
    :math:`\theta_t` in place; ``scale`` is the 1-element :math:`-\alpha_t/\delta_t`
    (:func:`_scale`). ``s`` holds :math:`c_t, \epsilon_1^2, 1-\gamma\lambda`."""
    c_t, eps1_sq, factor = s[0], s[1], s[2]
    if maximize:
        g = -g  # g_t (maximize)
    v_new = lerp(v, g * g, c_t, low=low)  # V_t
    u = g * torch.rsqrt(torch.clamp(v_new, min=eps1_sq))  # U_t
    theta = p * factor if decay else p  # theta (1 - gamma lambda)
    new = theta + scale[0] * u  # theta_t
    p.copy_(new)
    v.copy_(v_new)


def _factor_rows(g: Tensor, row: Tensor, col: Tensor, s: Tensor, *, low: bool) -> Tensor:
    r"""A matrix's second pass, after :func:`_factor_cols` (reads :math:`g`): :math:`R_t`
    stored (row sums of :math:`g_t^2`); returned, the row sums
    :math:`T_i = \sum_j g_{ij}^2 / C_j` (shape of :math:`R`). Where no element of
    :math:`\hat V_t` is clamped, :math:`\sum U_t^2 = \sum_i T_i / (R_i/\max(\operatorname{mean}
    (R_t), \epsilon_1))` (:func:`_factor_norm_from_rows`). ``s`` holds :math:`c_t`."""
    g2 = g * g
    row_mean = g2.sum(dim=-1, keepdim=True) / g.size(-1)  # ||g||^2_row / k
    row.copy_(lerp(row, row_mean, s[0], low=low))  # R_t
    return (g2 / col).sum(dim=-1, keepdim=True)  # T_i


def _factor_norm_from_rows(t_rows: Tensor, row: Tensor, col: Tensor, eps1: float) -> Tensor | None:
    r""":math:`\sum U_t^2` (1 element) from :func:`_factor_rows`'s :math:`T_i`, or ``None``
    where some element of :math:`\hat V_t` falls below :math:`\epsilon_1^2` (clamped: then
    :func:`_factor_norm` reads :math:`g` again). :math:`\hat V_{ij}` grows with :math:`C_j`,
    so its smallest element in row :math:`i` is the one of :math:`\min_j C_j`, computed with
    :func:`_factor_v_hat`'s own expression (the same rounding). Reads one number back to
    Python: CPU tensors only."""
    inv_mean = 1 / torch.clamp(row.mean(dim=-2, keepdim=True), min=eps1)
    smallest = row * col.amin(dim=-1, keepdim=True) * inv_mean
    if bool((smallest < eps1 * eps1).any()):
        return None
    return (t_rows.double() / (row * inv_mean).double()).sum().reshape(1).to(row.dtype)


#: rows summed per block in :func:`_column_sums_of_squares`
COLUMN_BLOCK = 32


def _column_sums_of_squares(g: Tensor) -> Tensor:
    r""":math:`\sum_i g_{ij}^2` (shape ``(..., 1, k)``), by blocks of :data:`COLUMN_BLOCK`
    rows, then over the blocks. A plain ``sum(dim=-2)`` makes inductor loop over columns
    outside and rows inside (a stride of :math:`k` per load); a block's rows stay in cache
    while their columns are summed. Measured (3 162 x 3 162, float32, one thread): 7.3 ms
    plain, 1.9 ms by blocks of 32 (and a smaller error against float64: 5.6e-7 against 3.5e-6
    at most, relative)."""
    rows = g.size(-2)
    if rows < 2 * COLUMN_BLOCK:  # (a guard: such shapes compile a variant of their own)
        return (g * g).sum(dim=-2, keepdim=True)
    full = rows // COLUMN_BLOCK * COLUMN_BLOCK
    head = g[..., :full, :].reshape(*g.shape[:-2], full // COLUMN_BLOCK, COLUMN_BLOCK, g.size(-1))
    tail = g[..., full:, :]
    return (head * head).sum(dim=-2).sum(dim=-2, keepdim=True) + (tail * tail).sum(
        dim=-2, keepdim=True
    )


def _factor_cols(g: Tensor, col: Tensor, s: Tensor, *, low: bool) -> None:
    r"""A matrix's column factor :math:`C_t` stored (column sums of :math:`g_t^2`, by blocks
    of rows: :func:`_column_sums_of_squares`). ``s`` holds :math:`c_t`."""
    col_mean = _column_sums_of_squares(g) / g.size(-2)  # ||g||^2_col / r
    col.copy_(lerp(col, col_mean, s[0], low=low))  # C_t


def _factor_v_hat(row: Tensor, col: Tensor, eps1: Tensor) -> Tensor:
    r""":math:`\hat V_t = R_t C_t / \max(\operatorname{mean}(R_t), \epsilon_1)` (the readable
    core's ``row_var @ col_var``: one product per element, the inner dimension is 1), the
    division by the mean a multiplication by its reciprocal (computed once)."""
    inv_mean = 1 / torch.clamp(row.mean(dim=-2, keepdim=True), min=eps1)
    return row * col * inv_mean


def _factor_norm(g: Tensor, row: Tensor, col: Tensor, s: Tensor) -> Tensor:
    r"""A matrix's second pass (reads :math:`g` only): :math:`\sum U_t^2` (1 element), as
    :math:`g_t^2 / \max(\hat V_t, \epsilon_1^2)`. ``s`` holds :math:`\epsilon_1, \epsilon_1^2`."""
    v_hat = _factor_v_hat(row, col, s[0])  # hat V_t
    return (g * g / torch.clamp(v_hat, min=s[1])).sum().reshape(1)


def _factor_apply(
    p: Tensor,
    g: Tensor,
    row: Tensor,
    col: Tensor,
    scale: Tensor,
    s: Tensor,
    *,
    maximize: bool,
    decay: bool,
) -> None:
    r"""A matrix's last pass: :math:`\theta_t` in place. ``s`` holds
    :math:`\epsilon_1, \epsilon_1^2, 1-\gamma\lambda`."""
    eps1, eps1_sq, factor = s[0], s[1], s[2]
    if maximize:
        g = -g  # g_t (maximize)
    v_hat = _factor_v_hat(row, col, eps1)  # hat V_t
    u = torch.rsqrt(torch.clamp(v_hat, min=eps1_sq)) * g  # U_t
    theta = p * factor if decay else p  # theta (1 - gamma lambda)
    new = theta + scale[0] * u  # theta_t
    p.copy_(new)


def _scale(
    norm_theta: Tensor, sq_u: Tensor, numel: int, rho: float, cfg: adafactor.AdafactorConfig
) -> Tensor:
    r""":math:`-\alpha_t/\delta_t` from :math:`\lVert\theta_{t-1}\rVert` (torch's norm, the
    readable core's own, so that :math:`\alpha_t` is its number bit for bit) and the sum of
    squares of :math:`U_t` (1-element tensors), on their device, in float64 (the readable
    core's Python arithmetic), as a 1-element tensor of their dtype. Python's ``max(a, x)`` is
    ``x if x > a else a`` (a NaN norm gives ``a``), hence ``where``, not ``clamp`` (which
    would propagate the NaN). On the CPU the two numbers are read back and the arithmetic is
    Python's, the readable core's own (the same roundings; ~0.4 ms less than ten 1-element
    tensor operations)."""
    if norm_theta.device.type == "cpu":
        rms = norm_theta.item() / (numel**0.5)  # RMS(theta)
        alpha_t = max(cfg.eps2, rms) * rho  # alpha_t
        delta_t = max(1.0, math.sqrt(sq_u.item()) / (numel**0.5) / cfg.d)  # delta_t
        return torch.tensor([-alpha_t / delta_t], dtype=sq_u.dtype)
    return _scale_on_device(norm_theta, sq_u, numel, rho, cfg)


def _scale_on_device(
    norm_theta: Tensor, sq_u: Tensor, numel: int, rho: float, cfg: adafactor.AdafactorConfig
) -> Tensor:
    r""":func:`_scale` without a read-back (an accelerator's path): float64 tensor operations
    on the numbers' device."""
    rms_theta = norm_theta.double().reshape(1) / (numel**0.5)  # RMS(theta)
    ratio = sq_u.double().sqrt() / (numel**0.5) / cfg.d  # RMS(U) / d
    alpha = torch.where(rms_theta > cfg.eps2, rms_theta, cfg.eps2) * rho  # alpha_t
    clip = torch.where(ratio > 1.0, ratio, 1.0)  # delta_t
    return (-alpha / clip).to(sq_u.dtype)


class _Compiled:
    """A kernel that returns what it computes, compiled per variant (flags, number of
    dimensions, dtype, device type: :func:`~optimizers._fast._base.compile_variant`, as
    :class:`~optimizers._fast._base.CompiledKernel` does); the Python scalars go in as one
    1-D tensor of the first tensor's dtype. Adafactor's flags times a model's parameter
    ranks would exceed dynamo's recompile limit for one shared code object."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self._compiled: dict[tuple[Any, ...], Any] = {}

    def __call__(self, tensors: list[Tensor], scalars: list[float], **flags: bool) -> Any:
        like = tensors[0]
        key = (tuple(sorted(flags.items())), like.dim(), like.dtype, like.device.type)
        s = torch.tensor(scalars, dtype=like.dtype, device=like.device)
        return compile_variant(self.fn, self._compiled, key)(*tensors, s, **flags)


_VECTOR_SUMS = _Compiled(_vector_sums)
_VECTOR_APPLY = _Compiled(_vector_apply)
_FACTOR_ROWS = _Compiled(_factor_rows)
_FACTOR_COLS = _Compiled(_factor_cols)
_FACTOR_NORM = _Compiled(_factor_norm)
_FACTOR_APPLY = _Compiled(_factor_apply)


def _fits(p: Tensor, grad: Tensor, state: dict[str, Any]) -> bool:
    """Whether ``p`` has the state the fast paths read, of its dtype and the expected shapes
    (a dense strided gradient like ``p``); anything else takes the readable core."""
    if not (
        p.is_floating_point()
        and grad.dtype is p.dtype
        and grad.shape == p.shape
        and grad.layout is torch.strided
        and isinstance(state.get("step"), Tensor)
    ):
        return False
    if grad.dim() <= 1:
        v = state.get("variance")
        return isinstance(v, Tensor) and v.dtype is p.dtype and v.shape == p.shape
    row, col = state.get("row_var"), state.get("col_var")
    return (
        isinstance(row, Tensor)
        and isinstance(col, Tensor)
        and row.dtype is p.dtype
        and col.dtype is p.dtype
        and row.shape == (*p.shape[:-1], 1)
        and col.shape == (*p.shape[:-2], 1, p.shape[-1])
    )


class Adafactor(adafactor.Adafactor):
    """``optimizers.Adafactor`` updated in place (same constructor, state and results as the
    readable class)."""

    #: run the compiled kernels (for parameters of at least ``compile_min_numel`` elements)
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
        if not _fits(p, grad, state):
            super()._update_param(p, cfg)
            return
        eps1 = torch.finfo(p.dtype).eps if cfg.eps1 is None else cfg.eps1  # epsilon_1
        step_t = state["step"]
        step_t.add_(1)  # t
        c_t, rho = adafactor.schedule(step_t.item(), cfg)  # c_t, rho_t
        tensors = [p, grad] + ([state["variance"]] if grad.dim() <= 1 else [])
        if grad.dim() > 1:
            tensors += [state["row_var"], state["col_var"]]
        if (
            self.compiled
            and p.numel() >= max(self.compile_min_numel, 2)
            and p.dtype in COMPILED_DTYPES
            and all(t.is_contiguous() for t in tensors)
        ):
            self._compiled_step(tensors, cfg, eps1, c_t, float(rho))
            return
        alpha = max(cfg.eps2, p.norm(2).item() / (p.numel() ** 0.5)) * rho  # alpha_t
        g = -grad if cfg.maximize else grad  # g_t (maximize)
        if cfg.weight_decay != 0:
            p.mul_(1 - cfg.lr * cfg.weight_decay)  # theta (1 - gamma lambda)
        u = self._scratch(p)
        if g.dim() > 1:
            row, col = state["row_var"], state["col_var"]
            row_mean = torch.norm(g, dim=-1, keepdim=True).square().div(g.size(-1))
            row.lerp_(row_mean, c_t)  # R_t
            col_mean = torch.norm(g, dim=-2, keepdim=True).square().div(g.size(-2))
            col.lerp_(col_mean, c_t)  # C_t
            torch.matmul(row, col, out=u)
            u.div_(row.mean(dim=-2, keepdim=True).clamp(min=eps1))  # hat V_t
            u.clamp_(min=eps1 * eps1)
        else:
            v = state["variance"]
            torch.mul(g, g, out=u)
            v.lerp_(u, c_t)  # V_t
            torch.clamp(v, min=eps1 * eps1, out=u)
        u.rsqrt_().mul_(g)  # U_t
        clip = max(1.0, u.norm(2).item() / ((u.numel() ** 0.5) * cfg.d))  # delta_t
        p.add_(u, alpha=-alpha / clip)  # theta_t

    def _compiled_step(
        self,
        tensors: list[Tensor],
        cfg: adafactor.AdafactorConfig,
        eps1: float,
        c_t: float,
        rho: float,
    ) -> None:
        """One parameter's compiled passes (``tensors``: the parameter, its gradient, then
        ``variance`` for a vector or ``row_var, col_var`` for a matrix)."""
        p = tensors[0]
        decay = cfg.weight_decay != 0
        factor = float(1 - cfg.lr * cfg.weight_decay) if decay else 1.0
        low = c_t < 0.5
        # ||theta_{t-1}||: torch's reduction, the readable core's p.norm(2) (a vectorised
        # ATen pass, ~1.6x faster than inductor's sum of squares at 1e7 elements)
        norm_theta = torch.linalg.vector_norm(p)
        if len(tensors) == 3:
            sq_u = _VECTOR_SUMS(tensors[1:], [c_t, eps1 * eps1], low=low)
            scale = _scale(norm_theta, sq_u, p.numel(), rho, cfg)
            _VECTOR_APPLY(
                [*tensors, scale], [c_t, eps1 * eps1, factor], maximize=cfg.maximize, low=low,
                decay=decay,
            )  # fmt: skip
        else:
            _, g, row, col = tensors
            _FACTOR_COLS([g, col], [c_t], low=low)
            t_rows = _FACTOR_ROWS([g, row, col], [c_t], low=low)
            sq_u = _factor_norm_from_rows(t_rows, row, col, eps1) if p.is_cpu else None
            if sq_u is None:
                sq_u = _FACTOR_NORM([g, row, col], [eps1, eps1 * eps1])
            scale = _scale(norm_theta, sq_u, p.numel(), rho, cfg)
            _FACTOR_APPLY(
                [*tensors, scale], [eps1, eps1 * eps1, factor], maximize=cfg.maximize,
                decay=decay,
            )  # fmt: skip


class CompiledAdafactor(Adafactor):
    """:class:`Adafactor` with the compiled kernels for large float32/float64 parameters."""

    compiled = True
