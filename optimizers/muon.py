r"""Muon: momentum orthogonalised by a Newton–Schulz iteration, for 2-D parameters.

Written to agree bit-for-bit with ``torch.optim.Muon`` (torch 2.13: constructor
``torch/optim/_muon.py:87-133``, state ``_muon.py:135-162``, Newton–Schulz ``_muon.py:31-70``,
learning-rate adjustment ``_muon.py:73-84``, the for-loop maths ``_muon.py:308-341``).
Symbols: :math:`\gamma` lr, :math:`\lambda` weight_decay, :math:`\mu` momentum,
:math:`(a, b, c)` ns_coefficients, :math:`\varepsilon` eps, :math:`k` ns_steps, the parameter
of shape :math:`A \times B`; :math:`\operatorname{bf16}(\cdot)` rounds to bfloat16, and every
Newton–Schulz operation runs in bfloat16. The LaTeX is grouped as the code computes it.

.. math::

   \begin{aligned}
   B_t      &\leftarrow \operatorname{lerp}(B_{t-1},\ g_t,\ 1-\mu)                          \\
   U_t      &\leftarrow \operatorname{lerp}(g_t,\ B_t,\ \mu) \text{ if nesterov else } B_t \\
   X_0      &\leftarrow \operatorname{bf16}(U_t)\ (\text{transposed if } A > B),
   \quad X_0 \leftarrow X_0 / \max(\lVert X_0\rVert_F,\ \varepsilon)                        \\
   G_j      &\leftarrow X_j X_j^\top,
   \quad P_j \leftarrow b\,G_j + c\,(G_j G_j),
   \quad X_{j+1} \leftarrow a\,X_j + P_j X_j   \qquad (j = 0, \dots, k-1)                 \\
   O_t      &\leftarrow X_k\ (\text{transposed back if } A > B)                             \\
   \gamma'  &\leftarrow \gamma\sqrt{\max(1, A/B)}\ (\text{None, "original"}),\quad
              0.2\,\gamma\sqrt{\max(A, B)}\ (\text{"match\_rms\_adamw"}),\quad
              \gamma\ (\text{any other value})                                             \\
   \theta   &\leftarrow \theta_{t-1}\,(1 - \gamma\lambda)                                   \\
   \theta_t &\leftarrow \theta + (-\gamma')\, O_t
   \end{aligned}

.. note::
   torch's docstring writes the momentum in sum form, :math:`B_t = \mu B_{t-1} + g_t` and
   :math:`g_t + \mu B_t` for Nesterov, but the code uses the EMA (``lerp``) form above; the
   two differ by a scale that the Frobenius normalisation removes, except through
   :math:`\varepsilon` and bfloat16 rounding. Weight decay uses the *unadjusted*
   :math:`\gamma`, and is applied even when ``weight_decay == 0`` (a multiply by 1). The
   update :math:`O_t` stays bfloat16 and is promoted when added to :math:`\theta`. For a
   bfloat16 parameter with ``nesterov=False``, ``bfloat16()`` does not copy, so torch's
   in-place normalisation also rescales the stored momentum buffer to
   :math:`B_t/\max(\lVert B_t\rVert_F, \varepsilon)`; :func:`step` reproduces that. There is
   no ``maximize`` and no ``foreach`` argument (torch's constructor has neither; only the
   functional ``torch.optim._muon.muon(foreach=True)`` raises). Non-2-D parameters are refused
   at construction (but not in ``add_param_group``; their gradients are refused at ``step``);
   complex parameters and sparse gradients are refused at ``step``. ``ns_steps >= 100`` or a
   coefficient tuple of the wrong length is refused at ``step`` *after* the momentum buffer of
   the first parameter has been updated, as in torch.
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

__all__ = ["Muon", "MuonConfig", "MuonState", "adjust_lr", "init", "newton_schulz", "step"]

# torch 2.13 torch/optim/_muon.py:24-28 (Keller Jordan's constants).
EPS = 1e-7
DEFAULT_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
DEFAULT_NS_STEPS = 5


@dataclass(frozen=True)
class MuonConfig(GroupConfig):
    lr: float | Tensor = field(metadata=group_key(convert=to_scalar))  # gamma
    weight_decay: float  # lambda
    momentum: float  # mu
    nesterov: bool
    ns_coefficients: tuple[float, ...] = field(metadata=group_key(convert=tuple))  # (a, b, c)
    eps: float  # varepsilon
    ns_steps: int  # k
    adjust_lr_fn: str | None


class MuonState(NamedTuple):
    momentum_buffer: Tensor  # B_t


def init(param: Tensor, grad: Tensor | None, cfg: MuonConfig) -> MuonState:
    """A zero momentum buffer, shaped from ``grad`` as torch does."""
    like = param if grad is None else grad
    return MuonState(torch.zeros_like(like, memory_format=torch.preserve_format))


def _ns_error(cfg: MuonConfig) -> str | None:
    """torch's Newton–Schulz argument checks (``_muon.py:46-53``), shape check aside."""
    if cfg.ns_steps >= 100:
        return "Number of steps must be less than 100 for computational efficiency"
    if len(cfg.ns_coefficients) != 3:
        return "Coefficients must be a tuple of exactly 3 values"
    return None


def newton_schulz(
    u: Tensor, coefficients: tuple[float, ...], ns_steps: int, eps: float
) -> tuple[Tensor, Tensor]:
    r"""The bfloat16 Newton–Schulz orthogonalisation :math:`O_t` of a 2-D :math:`U_t`.

    Returns ``(O_t, X_0)`` with :math:`X_0` the normalised bfloat16 input in :math:`U_t`'s own
    orientation (torch normalises in place, which matters when :math:`U_t` is already
    bfloat16). Pure.
    """
    if ns_steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(u.shape) != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = coefficients
    tall = u.size(0) > u.size(1)
    x = u.bfloat16()  # bf16(U_t)
    if tall:
        x = x.T
    x = x.div(x.norm().clamp(min=eps))  # X_0
    x0 = x.T if tall else x
    for _ in range(ns_steps):
        gram = x @ x.T  # G_j
        poly = torch.addmm(gram, gram, gram, beta=b, alpha=c)  # P_j = b G_j + c G_j G_j
        x = torch.addmm(x, poly, x, beta=a)  # X_{j+1} = a X_j + P_j X_j
    return (x.T if tall else x), x0  # O_t


def adjust_lr(lr: float | Tensor, adjust_lr_fn: str | None, shape: torch.Size) -> float | Tensor:
    r""":math:`\gamma'`: the shape-dependent learning rate of the orthogonalised update."""
    rows, cols = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = 1.0
    return lr * ratio


def _momentum(grad: Tensor, buf: Tensor, cfg: MuonConfig) -> tuple[Tensor, Tensor]:
    """``(B_t, U_t)``."""
    buf = buf.lerp(grad, 1 - cfg.momentum)  # B_t
    u = grad.lerp(buf, cfg.momentum) if cfg.nesterov else buf  # U_t
    return buf, u


def step(
    param: Tensor, grad: Tensor, state: MuonState, cfg: MuonConfig
) -> tuple[Tensor, MuonState]:
    """One Muon step on one 2-D parameter. Pure: returns new tensors."""
    if grad.ndim != 2:
        raise ValueError("Param gradient must be a 2D matrix")
    buf, u = _momentum(grad, state.momentum_buffer, cfg)  # B_t, U_t
    ortho, x0 = newton_schulz(u, cfg.ns_coefficients, cfg.ns_steps, cfg.eps)  # O_t
    if u is buf and buf.dtype == torch.bfloat16:
        buf = x0  # torch's in-place normalisation reaches the buffer
    lr_adjusted: Any = adjust_lr(cfg.lr, cfg.adjust_lr_fn, param.shape)  # gamma'
    param = param.mul(1 - cfg.lr * cfg.weight_decay)  # theta (1 - gamma lambda)
    param = param.add(ortho, alpha=-lr_adjusted)  # theta_t
    return param, MuonState(buf)


class Muon(FunctionalOptimizer):
    """``torch.optim.Muon`` from scratch; same signature, defaults, validation and state."""

    config_from_group: ClassVar[Callable[[dict[str, Any]], Any]] = MuonConfig.from_group
    state_type = MuonState
    init_param = init
    step_param = step
    sparse_grad_error = "Muon does not support sparse gradients"

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = DEFAULT_NS_COEFFICIENTS,
        eps: float = EPS,
        ns_steps: int = DEFAULT_NS_STEPS,
        adjust_lr_fn: str | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not lr >= 0.0:
            raise ValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not momentum >= 0.0:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not weight_decay >= 0.0:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ["original", "match_rms_adamw"]:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
        }
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(
                        "Muon only supports 2D parameters whereas we found a parameter with "
                        f"size: {p.size()}"
                    )

    def _scans_group_first(self, group: dict[str, Any]) -> bool:
        """torch scans a group (refusals, buffers) before it updates any parameter of it."""
        return True

    def _prepare_param(
        self, p: Tensor, group: dict[str, Any], cfg: Any, scanned: Sequence[Tensor]
    ) -> None:
        """torch's scan: complex parameters and sparse gradients refused, buffer created."""
        assert p.grad is not None
        if torch.is_complex(p):
            raise RuntimeError("Muon does not support complex parameters")
        if p.grad.is_sparse:
            raise RuntimeError(self.sparse_grad_error)
        if "momentum_buffer" not in self.state[p]:
            self._store_state(p, type(self).init_param(p, p.grad, cfg))

    def _update_param(self, p: Tensor, cfg: MuonConfig) -> None:
        """The update, after torch's checks: a gradient not a matrix is refused, and a bad
        ``ns_steps``/``ns_coefficients`` is reported only after the buffer has moved."""
        grad = p.grad
        assert grad is not None
        if grad.ndim != 2:
            raise ValueError("Param gradient must be a 2D matrix")
        error = _ns_error(cfg)
        if error is not None:
            buf, _ = _momentum(grad, self.state[p]["momentum_buffer"], cfg)
            self._store_state(p, MuonState(buf))
            raise ValueError(error)
        super()._update_param(p, cfg)
