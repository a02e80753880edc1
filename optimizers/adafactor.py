r"""Adafactor: factored second moments, relative step size and update clipping.

Written to agree bit-for-bit with ``torch.optim.Adafactor(foreach=False)`` (torch 2.13:
constructor ``torch/optim/_adafactor.py:23-69``, state ``_adafactor.py:71-119``, the for-loop
maths ``_adafactor.py:330-416``). Symbols: :math:`\gamma` lr, :math:`\tau` beta2_decay,
:math:`\epsilon_1, \epsilon_2` eps, :math:`d` the clipping threshold, :math:`\lambda`
weight_decay, :math:`t` the step count after the increment (first step 1),
:math:`\operatorname{RMS}(x) = \lVert x\rVert_2 / \sqrt{\operatorname{numel}(x)}` (computed as
a Python float from ``.item()``). For a parameter of two or more dimensions :math:`R` (shape
``[..., n, 1]``) and :math:`C` (shape ``[..., 1, m]``) factor the second moment over the last
two dimensions; a vector (or scalar) keeps the full :math:`V`. The LaTeX is grouped as the
code computes it.

.. math::

   \begin{aligned}
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                         \\
   t        &\leftarrow t + 1                                                               \\
   c_t      &\leftarrow t^{\tau}  \qquad (= 1 - \hat\beta_{2,t};\ c_1 = 1)                     \\
   \rho_t   &\leftarrow \min(\gamma,\ 1/\sqrt{t})                                           \\
   \alpha_t &\leftarrow \max\big(\epsilon_2,\ \operatorname{RMS}(\theta_{t-1})\big)\,\rho_t    \\
   \theta   &\leftarrow \theta_{t-1}\,(1 - \gamma\lambda)   && \text{if } \lambda \ne 0      \\
   R_t      &\leftarrow \operatorname{lerp}(R_{t-1},\ \lVert g_t\rVert_{\text{row}}^2 / m,\ c_t)
              && (\dim > 1)                                                                \\
   C_t      &\leftarrow \operatorname{lerp}(C_{t-1},\ \lVert g_t\rVert_{\text{col}}^2 / n,\ c_t)
              && (\dim > 1)                                                                \\
   \hat V_t &\leftarrow (R_t C_t) \,/\,
              \max\big(\operatorname{mean}_{\text{rows}}(R_t),\ \epsilon_1\big)
              && (\dim > 1)                                                                \\
   V_t      &\leftarrow \operatorname{lerp}(V_{t-1},\ g_t \odot g_t,\ c_t),
              \quad \hat V_t \leftarrow V_t                  && (\dim \le 1)                \\
   U_t      &\leftarrow \big(\max(\hat V_t,\ \epsilon_1 \epsilon_1)\big)^{-1/2} \odot g_t     \\
   \delta_t &\leftarrow
              \max\big(1,\ \lVert U_t\rVert_2 / (\sqrt{\operatorname{numel}(U_t)}\; d)\big)    \\
   \theta_t &\leftarrow \theta + (-\alpha_t/\delta_t)\, U_t
   \end{aligned}

.. note::
   torch's docstring lists ``weight_decay`` "(default: 1e-2)" but the signature default is
   ``0.0``; we follow the signature. Weight decay is decoupled and scaled by :math:`\gamma`,
   and :math:`\operatorname{RMS}(\theta_{t-1})` is taken *before* it. :math:`c_1 = 1`, so the
   first step overwrites the zero-initialised moments with the squared-gradient means.
   :math:`\epsilon_1` clamps the row mean of :math:`R` and :math:`\hat V` (squared), not the
   factors themselves (this deviates from the paper on purpose, see torch's class note). When
   ``eps[0]`` is ``None``, :math:`\epsilon_1` is ``torch.finfo(dtype).eps`` of the *first
   parameter with a gradient* in the group and is reused for every other parameter of that
   group, so a mixed float32/float64 group shares one :math:`\epsilon_1`. The state is shaped
   from the gradient, and ``step`` is a float32 (float64 if that is the default dtype) CPU
   tensor. Complex parameters and sparse gradients are refused at ``step``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._shell import (
    FunctionalOptimizer,
    GroupConfig,
    group_key,
    scalar_dtype,
    to_scalar,
)

__all__ = ["Adafactor", "AdafactorConfig", "AdafactorState", "init", "schedule", "step"]


@dataclass(frozen=True)
class AdafactorConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    beta2_decay: float  # tau
    eps1: float | None = field(
        metadata=group_key("eps", 0)
    )  # epsilon_1 (None: finfo(param.dtype).eps)
    eps2: float = field(metadata=group_key("eps", 1))  # epsilon_2
    d: float  # clipping threshold
    weight_decay: float  # lambda
    maximize: bool


class AdafactorState(NamedTuple):
    step: Tensor  # t
    row_var: Tensor | None = None  # R_t (dim > 1)
    col_var: Tensor | None = None  # C_t (dim > 1)
    variance: Tensor | None = None  # V_t (dim <= 1)


def init(param: Tensor, grad: Tensor | None, cfg: AdafactorConfig) -> AdafactorState:
    """Zero factored (dim > 1) or full (dim <= 1) moments, shaped from ``grad`` as torch does."""
    like = param if grad is None else grad
    step_t = torch.tensor(0.0, dtype=scalar_dtype())
    if like.dim() > 1:
        row_shape = [*like.shape[:-1], 1]
        col_shape = [*like.shape[:-2], 1, like.shape[-1]]
        return AdafactorState(step_t, like.new_zeros(row_shape), like.new_zeros(col_shape))
    zeros = torch.zeros_like(like, memory_format=torch.preserve_format)
    return AdafactorState(step_t, variance=zeros)


def schedule(t: float, cfg: AdafactorConfig) -> tuple[float, float | Tensor]:
    """``(c_t, rho_t)`` at step ``t`` (after the increment), as Python numbers (``rho_t`` a
    tensor when ``lr`` is one and the smaller)."""
    c_t = t**cfg.beta2_decay  # c_t = 1 - hat beta_2
    rho = min(cfg.lr, 1 / (t**0.5))  # rho_t
    return c_t, rho


def step(
    param: Tensor, grad: Tensor, state: AdafactorState, cfg: AdafactorConfig
) -> tuple[Tensor, AdafactorState]:
    """One Adafactor step on one parameter. Pure: returns new tensors."""
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    eps1 = torch.finfo(param.dtype).eps if cfg.eps1 is None else cfg.eps1  # epsilon_1
    step_t = state.step + 1  # t
    t = step_t.item()
    c_t, rho = schedule(t, cfg)  # c_t, rho_t
    alpha = max(cfg.eps2, param.norm(2).item() / (param.numel() ** 0.5)) * rho  # alpha_t
    if cfg.weight_decay != 0:
        # in place on a copy: a 0-d param times a tensor lr keeps the param's dtype
        param = param.clone().mul_(1 - cfg.lr * cfg.weight_decay)  # theta (1 - gamma lambda)
    row_var, col_var, variance = state.row_var, state.col_var, state.variance
    if g.dim() > 1:
        if row_var is None or col_var is None:
            raise AssertionError(
                "row_var and col_var should be defined when grad is multidimensional"
            )
        row_mean = torch.norm(g, dim=-1, keepdim=True).square().div(g.size(-1))  # ||g||^2_row / m
        row_var = row_var.lerp(row_mean, c_t)  # R_t
        col_mean = torch.norm(g, dim=-2, keepdim=True).square().div(g.size(-2))  # ||g||^2_col / n
        col_var = col_var.lerp(col_mean, c_t)  # C_t
        v_hat = (row_var @ col_var).div(row_var.mean(dim=-2, keepdim=True).clamp(min=eps1))
    else:
        if variance is None:
            raise AssertionError("variance should be defined when grad is a vector")
        variance = variance.lerp(g * g, c_t)  # V_t
        v_hat = variance  # hat V_t
    u = v_hat.clamp(min=eps1 * eps1).rsqrt().mul(g)  # U_t
    clip = max(1.0, u.norm(2).item() / ((u.numel() ** 0.5) * cfg.d))  # delta_t
    param = param.add(u, alpha=-alpha / clip)  # theta_t
    return param, AdafactorState(step_t, row_var, col_var, variance)


class Adafactor(FunctionalOptimizer):
    """``torch.optim.Adafactor`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = AdafactorConfig.from_group
    state_type = AdafactorState
    init_param = init
    step_param = step

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not lr >= 0.0:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not beta2_decay <= 0.0:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not eps[0] >= 0.0:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not eps[1] >= 0.0:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not d >= 1.0:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not weight_decay >= 0.0:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": eps,
            "d": d,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """As torch: default ``foreach`` and turn a non-tensor ``step`` into a tensor."""
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("foreach", None)
            for p in group["params"]:
                p_state = self.state.get(p, [])
                if len(p_state) != 0 and not torch.is_tensor(p_state["step"]):
                    p_state["step"] = torch.tensor(float(p_state["step"]), dtype=scalar_dtype())

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One step (torch checks for graph capture first); ``closure`` re-evaluates the loss."""
        self._accelerator_graph_capture_health_check()
        return super().step(closure)

    def _scans_group_first(self, group: dict[str, Any]) -> bool:
        """torch resolves ``eps[0] = None`` from the whole scanned group (see the note)."""
        return True

    def _prepare_param(
        self, p: Tensor, group: dict[str, Any], cfg: Any, scanned: Sequence[Tensor]
    ) -> None:
        """torch's scan: complex parameters and sparse gradients refused, state created."""
        assert p.grad is not None
        if torch.is_complex(p):
            raise RuntimeError("Adafactor does not support complex parameters")
        if p.grad.is_sparse:
            raise RuntimeError("Adafactor does not support sparse gradients")
        if not self.state[p]:
            self._store_state(p, type(self).init_param(p, p.grad, cfg))

    def _after_scan(
        self, params: Sequence[Tensor], group: dict[str, Any], cfg: AdafactorConfig
    ) -> AdafactorConfig:
        """torch's group checks; epsilon_1 from the group's first parameter with a gradient."""
        if any(not torch.is_tensor(self.state[p]["step"]) for p in params):
            raise RuntimeError("`state_steps` argument must contain a list of singleton tensors")
        grad_scale = getattr(self, "grad_scale", None)
        if grad_scale is not None or getattr(self, "found_inf", None) is not None:
            raise AssertionError("Grad scaling should occur outside of optimizer.step()")
        if cfg.eps1 is None and params:
            cfg = replace(cfg, eps1=torch.finfo(params[0].dtype).eps)
        return cfg
