r"""Adagrad with learning-rate decay, L2 weight decay, maximize and sparse gradients.

Written to agree bit-for-bit with ``torch.optim.Adagrad(foreach=False)``
(torch 2.13, ``torch/optim/adagrad.py:364-429``; state creation 79-98 and 142-182).
Symbols: :math:`\gamma` lr, :math:`\eta` lr_decay, :math:`\lambda` weight_decay,
:math:`\tau` initial_accumulator_value, :math:`\epsilon` eps, :math:`t` the step count after
the increment (first step 1). The LaTeX is grouped as the code computes it.

.. math::

   \begin{aligned}
   s_0      &\leftarrow \tau \quad (\tau + \tau i \text{ for complex } \theta)                \\
   t        &\leftarrow t + 1                                                              \\
   g_t      &\leftarrow -\nabla_t \text{ if maximize else } \nabla_t                         \\
   g_t      &\leftarrow g_t + \lambda\,\theta_{t-1}   && \text{if } \lambda \ne 0            \\
   \tilde\gamma_t &\leftarrow \gamma \,/\, (1 + (t-1)\,\eta)                                 \\
   s_t      &\leftarrow s_{t-1} + g_t \odot g_t                                             \\
   d_t      &\leftarrow \sqrt{s_t} + \epsilon                                               \\
   \theta_t &\leftarrow \theta_{t-1} - \tilde\gamma_t\; g_t / d_t
   \end{aligned}

With a sparse gradient (COO), :math:`g_t` is coalesced first and only its index set
:math:`I` is touched: :math:`s_I \leftarrow s_I + g_I^2`, :math:`d_I = \sqrt{s_I} + \epsilon`,
:math:`\theta_I \leftarrow \theta_I - \tilde\gamma_t\, g_I / d_I`; entries outside :math:`I`
keep their accumulator and value exactly.

.. note::
   :math:`\epsilon` sits *outside* the square root. The decayed learning rate
   :math:`\tilde\gamma_t` uses :math:`t-1`, so the first step uses :math:`\gamma` itself, and
   it is computed in Python double from ``step.item()`` (``step`` a float32 tensor, exact up
   to :math:`2^{24}` steps). Dense complex parameters are updated as independent real pairs
   (``torch.view_as_real``) *after* the weight decay; sparse gradients are not viewed as real
   (complex sparse values are squared as complex numbers, as torch does).

   torch creates the state *eagerly* in ``__init__`` for every parameter given there, with
   :math:`\tau` taken from the constructor argument: a per-group
   ``initial_accumulator_value`` is stored in the group but ignored. State created later
   (a group added with ``add_param_group``) takes :math:`\tau` from ``optimizer.defaults``.
   A sparse gradient with :math:`\lambda \ne 0` raises ``RuntimeError`` *after* torch has
   already counted the step (``step`` is one higher afterwards); the optimiser class mirrors
   that. Because the core is pure, the state tensors are replaced at every step, so
   :meth:`Adagrad.share_memory` shares only the current tensors (torch updates them in place).
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
    _check_fused_param,
    check_fused_flags,
    group_key,
    step_counter,
    to_scalar,
)

__all__ = ["Adagrad", "AdagradConfig", "AdagradState", "decayed_lr", "init", "step"]


@dataclass(frozen=True)
class AdagradConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    lr_decay: float  # eta
    weight_decay: float  # lambda
    initial_accumulator_value: float  # tau
    eps: float  # epsilon
    maximize: bool
    # fused: torch keeps ``step`` as float32 on the param device
    fused: bool = field(default=False, metadata=group_key(convert=bool))


class AdagradState(NamedTuple):
    step: Tensor  # t
    sum: Tensor  # s_t


def init(param: Tensor, grad: Tensor | None, cfg: AdagradConfig) -> AdagradState:
    """``step = 0`` placed as torch places it; the accumulator filled with ``tau``."""
    tau = cfg.initial_accumulator_value
    fill = complex(tau, tau) if torch.is_complex(param) else tau  # s_0
    return AdagradState(
        step=step_counter(param, fused=cfg.fused),
        sum=torch.full_like(param, fill, memory_format=torch.preserve_format),
    )


def decayed_lr(t: float, cfg: AdagradConfig) -> Any:
    r""":math:`\tilde\gamma_t` at step ``t`` (after the increment): a float, or a 0-d tensor
    for a Tensor lr (torch's Scalar arguments accept both)."""
    return cfg.lr / (1 + (t - 1) * cfg.lr_decay)  # tilde gamma_t


def step(
    param: Tensor, grad: Tensor, state: AdagradState, cfg: AdagradConfig
) -> tuple[Tensor, AdagradState]:
    """One Adagrad step on one parameter (dense or sparse ``grad``). Pure: returns new tensors."""
    step_t = state.step + 1  # t
    t = step_t.item()  # t as a Python double, as torch reads it
    g = -grad if cfg.maximize else grad  # g_t (maximize)
    if cfg.weight_decay != 0:
        if g.is_sparse:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")
        g = g.add(param, alpha=cfg.weight_decay)  # g_t + lambda theta
    clr = decayed_lr(t, cfg)  # tilde gamma_t
    if g.is_sparse:
        g = g.coalesce()  # unique indices: the update is not linear in g
        index, values = g.indices(), g.values()
        sum_ = state.sum.add(torch.sparse_coo_tensor(index, values.pow(2), g.size()))  # s_I
        std_values = sum_.sparse_mask(g).values().sqrt().add(cfg.eps)  # d_I
        update = torch.sparse_coo_tensor(index, values / std_values, g.size())  # g_I / d_I
        return param.add(update, alpha=-clr), AdagradState(step_t, sum_)  # theta_I
    complex_param = torch.is_complex(param)
    sum_ = state.sum
    if complex_param:
        g, sum_, param = map(torch.view_as_real, (g, sum_, param))
    sum_ = sum_.addcmul(g, g, value=1)  # s_t
    std = sum_.sqrt().add(cfg.eps)  # d_t
    param = param.addcdiv(g, std, value=-clr)  # theta_t
    if complex_param:
        param, sum_ = map(torch.view_as_complex, (param, sum_))
    return param, AdagradState(step_t, sum_)


class Adagrad(FunctionalOptimizer):
    """``torch.optim.Adagrad`` from scratch; same signature, defaults, validation and state.

    As in torch, the state of every parameter given to the constructor exists from the start
    (``step = 0``, ``sum = tau``), so ``state_dict()`` is complete before the first step.
    """

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = AdagradConfig.from_group
    state_type = AdagradState
    init_param = init
    step_param = step
    accepts_sparse_grad = True

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        # torch's checks in torch's order; ``0.0 <= x`` kept so odd types fail with torch's text.
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:  # noqa: SIM300
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:  # noqa: SIM300
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:  # noqa: SIM300
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:  # noqa: SIM300
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:  # noqa: SIM300
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        check_fused_flags(fused, foreach, differentiable)
        # Eager state, with the constructor's tau even where a group sets its own (torch 79-98).
        for group in self.param_groups:
            cfg = replace(
                AdagradConfig.from_group(group), initial_accumulator_value=initial_accumulator_value
            )
            for p in group["params"]:
                self._store_state(p, init(p, None, cfg))

    def _scans_group_first(self, group: dict[str, Any]) -> bool:
        """Fused: torch prepares the whole group, then its kernel refuses it as a whole."""
        return bool(group["fused"])

    def _prepare_param(
        self, p: Tensor, group: dict[str, Any], cfg: Any, scanned: Sequence[Tensor]
    ) -> None:
        """torch's per-parameter checks, then the lazy state (tau from ``defaults``)."""
        # torch checks the first parameter with a gradient once, whatever its state (142-152).
        if group["fused"] and getattr(self, "_need_device_dtype_check_for_fused", True):
            _check_fused_param(p)
            self._need_device_dtype_check_for_fused = False
        FunctionalOptimizer._check_param(self, p, group)
        if not self.state[p]:
            tau = self.defaults["initial_accumulator_value"]
            self._store_state(p, init(p, p.grad, replace(cfg, initial_accumulator_value=tau)))

    def _after_scan(self, params: Sequence[Tensor], group: dict[str, Any], cfg: Any) -> Any:
        """The fused kernel's refusals of a prepared group (562-567)."""
        if any((q.grad is not None and q.grad.is_sparse) or torch.is_complex(q) for q in params):
            raise RuntimeError("`fused` does not support sparse grad or complex param")
        if group["differentiable"]:
            raise RuntimeError("adagrad with fused=True does not support differentiable=True")
        return cfg

    def _update_param(self, p: Tensor, cfg: Any) -> None:
        """The update; a sparse gradient with weight decay is refused by the core *after*
        torch has counted the step in place (391-400), which is mirrored here."""
        assert p.grad is not None
        if p.grad.is_sparse and cfg.weight_decay != 0:
            self.state[p]["step"].add_(1)
        super()._update_param(p, cfg)

    def _check_param(self, p: Tensor, group: dict[str, Any]) -> None:
        """Preparation of ``p`` as :meth:`_step_group` does it, for the step loop of
        :class:`optimizers._fast._base.MultiTensorOptimizer`, which calls ``_check_param``
        before its lazy state and the core's ``step``: :meth:`_prepare_param`, the fused
        refusals of the whole group at its first parameter, and the step counted before a
        sparse gradient with weight decay is refused."""
        grad = p.grad
        assert grad is not None
        cfg = type(self).config_from_group(group)
        if not group["fused"]:
            self._prepare_param(p, group, cfg, ())
            if grad.is_sparse and group["weight_decay"] != 0:
                self.state[p]["step"].add_(1)
            return
        with_grad = [q for q in group["params"] if q.grad is not None]
        if p is not with_grad[0]:
            return  # the whole group was prepared and checked at its first parameter
        for q in with_grad:
            self._prepare_param(q, group, cfg, ())
        self._after_scan(with_grad, group, cfg)

    def share_memory(self) -> None:
        """Calls ``share_memory_()`` on the current ``sum`` tensors (as torch does)."""
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["sum"].share_memory_()
