r"""SparseAdam: Adam restricted to the entries a sparse (COO) gradient materialises.

Written to agree bit-for-bit with ``torch.optim.SparseAdam`` (torch 2.13: constructor
``torch/optim/sparse_adam.py:13-61``, state handling ``sparse_adam.py:63-129``, the maths in
``torch/optim/_functional.py:24-84``). Symbols: :math:`\gamma` lr, :math:`\beta_1, \beta_2`
betas, :math:`\epsilon` eps, :math:`t` the step count after the increment (first step 1),
:math:`I` the index set of the *coalesced* gradient (duplicate indices summed first), and
:math:`x_I` the entries of a dense tensor :math:`x` at :math:`I`. Entries outside :math:`I`
are left untouched. The LaTeX is grouped as the code computes it.

.. math::

   \begin{aligned}
   t        &\leftarrow t + 1   \qquad \text{(always, even when } I = \varnothing\text{)}     \\
   g        &\leftarrow \operatorname{coalesce}(-\nabla_t \text{ if maximize else } \nabla_t) \\
            &\text{stop here if } I = \varnothing                                           \\
   \Delta m &\leftarrow (g_I - m_{I})\,(1-\beta_1)                                          \\
   \Delta v &\leftarrow (g_I^2 - v_{I})\,(1-\beta_2)                                        \\
   m_I      &\leftarrow m_I + \Delta m,
   \qquad v_I \leftarrow v_I + \Delta v                                                     \\
   \hat m   &\leftarrow \Delta m + m_{I}^{\text{old}},
   \qquad d \leftarrow \sqrt{\Delta v + v_{I}^{\text{old}}} + \epsilon                       \\
   s        &\leftarrow \gamma \sqrt{1-\beta_2^t} \,/\, (1-\beta_1^t)                       \\
   \theta_I &\leftarrow \theta_I + (-s)\,(\hat m / d)
   \end{aligned}

.. note::
   The :math:`\epsilon` placement differs from :mod:`optimizers.adam`: here :math:`\epsilon`
   is added to the *uncorrected* :math:`\sqrt{v}` and the bias correction
   :math:`\sqrt{1-\beta_2^t}` is folded into the step size (the paper's
   ":math:`\hat\epsilon`" form), whereas ``torch.optim.Adam`` adds :math:`\epsilon` after
   dividing :math:`\sqrt{v}` by :math:`\sqrt{1-\beta_2^t}`. So SparseAdam differs from Adam even
   when every entry is present. ``step`` is a Python ``int`` (not a tensor), and it is
   incremented before the empty-gradient check, so an all-empty sparse gradient still counts as
   a step for the later bias corrections. The gradient is coalesced *after* the maximize flip.
   Every materialised entry counts as "present", even an explicit zero. Dense gradients are
   refused at ``step``; sparse or complex *parameters* are refused at construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from optverify.optimizers._shell import FunctionalOptimizer, GroupConfig, group_key, to_scalar

__all__ = ["SparseAdam", "SparseAdamConfig", "SparseAdamState", "init", "step"]


@dataclass(frozen=True)
class SparseAdamConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    beta1: float = field(metadata=group_key("betas", 0))
    beta2: float = field(metadata=group_key("betas", 1))
    eps: float  # epsilon
    maximize: bool = field(metadata=group_key(missing=False))


class SparseAdamState(NamedTuple):
    step: int  # t (a Python int, as torch keeps it)
    exp_avg: Tensor  # m
    exp_avg_sq: Tensor  # v


def init(param: Tensor, grad: Tensor | None, cfg: SparseAdamConfig) -> SparseAdamState:
    """Zero moments shaped like ``param`` and ``step = 0``."""
    zeros = torch.zeros_like(param, memory_format=torch.preserve_format)
    return SparseAdamState(step=0, exp_avg=zeros, exp_avg_sq=zeros.clone())


def _on_index_set(like: Tensor, values: Tensor) -> Tensor:
    """A sparse tensor with the (coalesced) indices and size of ``like`` holding ``values``."""
    return torch.sparse_coo_tensor(like._indices(), values, like.size())


def step(
    param: Tensor, grad: Tensor, state: SparseAdamState, cfg: SparseAdamConfig
) -> tuple[Tensor, SparseAdamState]:
    """One SparseAdam step on one parameter (``grad`` sparse COO). Pure: returns new tensors."""
    t = state.step + 1  # t (counted even for an empty gradient)
    g = (-grad if cfg.maximize else grad).coalesce()  # g, duplicates summed
    g_values = g._values()  # g_I
    if g_values.numel() == 0:
        return param, SparseAdamState(t, state.exp_avg, state.exp_avg_sq)
    m_old = state.exp_avg.sparse_mask(g)._values()  # m_I^old
    delta_m = g_values.sub(m_old).mul(1 - cfg.beta1)  # Delta m
    exp_avg = state.exp_avg.add(_on_index_set(g, delta_m))  # m_I
    v_old = state.exp_avg_sq.sparse_mask(g)._values()  # v_I^old
    delta_v = g_values.pow(2).sub(v_old).mul(1 - cfg.beta2)  # Delta v
    exp_avg_sq = state.exp_avg_sq.add(_on_index_set(g, delta_v))  # v_I
    m_hat = delta_m.add(m_old)  # hat m
    denom = delta_v.add(v_old).sqrt().add(cfg.eps)  # d
    bias_correction1 = 1 - cfg.beta1**t
    bias_correction2 = 1 - cfg.beta2**t
    step_size = cfg.lr * math.sqrt(bias_correction2) / bias_correction1  # s
    param = param.add(_on_index_set(g, -step_size * m_hat.div(denom)))  # theta_I
    return param, SparseAdamState(t, exp_avg, exp_avg_sq)


class SparseAdam(FunctionalOptimizer):
    """``torch.optim.SparseAdam`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = SparseAdamConfig.from_group
    state_type = SparseAdamState
    init_param = init
    step_param = step
    accepts_sparse_grad = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not lr > 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not eps > 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "maximize": maximize}
        super().__init__(params, defaults)
        sparse_at: list[list[int]] = []
        complex_at: list[list[int]] = []
        for g_index, group in enumerate(self.param_groups):
            if not isinstance(group, dict):
                raise AssertionError(f"param_groups must be a list of dicts, but got {type(group)}")
            for p_index, p in enumerate(group["params"]):
                if p.is_sparse:
                    sparse_at.append([g_index, p_index])
                if p.is_complex():
                    complex_at.append([g_index, p_index])
        if sparse_at:
            raise ValueError(
                f"Sparse params at indices {sparse_at}: SparseAdam requires dense parameter tensors"
            )
        if complex_at:
            raise ValueError(
                f"Complex params at indices {complex_at}: "
                "SparseAdam does not support complex parameters"
            )

    def _scans_group_first(self, group: dict[str, Any]) -> bool:
        """torch scans a group (state created, ``step`` counted) before updating any of it."""
        return True

    def _prepare_param(
        self, p: Tensor, group: dict[str, Any], cfg: Any, scanned: Sequence[Tensor]
    ) -> None:
        """torch's scan: a dense gradient refused (after torch has counted the steps of the
        parameters ``scanned`` before it, which are then left with no update), state created."""
        assert p.grad is not None
        if not p.grad.is_sparse:
            for q in scanned:
                self.state[q]["step"] += 1
            raise RuntimeError(
                "SparseAdam does not support dense gradients, please consider Adam instead"
            )
        super()._prepare_param(p, group, cfg, scanned)
