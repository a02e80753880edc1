"""The thin ``torch.optim.Optimizer`` shell shared by every optimiser in this package.

Each algorithm module holds the mathematics as a pure functional core:

* a frozen ``*Config`` dataclass built from one param group (``Config.from_group``),
* a ``*State`` ``NamedTuple`` whose fields are torch's ``state[p]`` keys,
* ``init(param, cfg) -> State`` and ``step(param, grad, state, cfg) -> (param, State)``,
  which never mutate their inputs.

:class:`FunctionalOptimizer` turns such a core into an optimiser with torch's behaviour
around the maths: param groups (named or not), lazy per-parameter state, ``closure``
handling, skipping parameters whose ``grad`` is ``None``, and ``state_dict`` interchange
with the torch class (same keys, dtypes and devices).

The flags ``foreach``, ``fused``, ``capturable`` and ``differentiable`` choose *how* torch
computes, not *what*: they are accepted, validated like torch validates them and stored in
the param groups, and the readable for-loop core always runs. ``capturable=True`` is refused
at ``step`` on devices torch refuses it on, with torch's exception type; ``differentiable=True``
is stored, but the step here never records an autograd graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = [
    "CAPTURABLE_DEVICES",
    "FUSED_DEVICES",
    "FunctionalOptimizer",
    "check_fused_flags",
    "scalar_dtype",
    "step_counter",
    "to_scalar",
    "write_back",
]

# torch 2.13 torch/utils/_foreach_utils.py:13-24 and torch/optim/optimizer.py:218-225.
FUSED_DEVICES = ("mps", "cuda", "xpu", "hpu", "cpu", "mtia")
CAPTURABLE_DEVICES = ("cuda", "xpu", "hpu", "xla")


class _State(Protocol):
    def _asdict(self) -> dict[str, Any]: ...


def scalar_dtype(is_fused: bool | None = None) -> torch.dtype:
    """The dtype torch keeps scalar state (``step``) in: float32 unless the default is float64."""
    if is_fused:
        return torch.float32
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def step_counter(param: Tensor, *, on_param_device: bool = False, fused: bool = False) -> Tensor:
    """A zero ``step`` tensor placed as torch places it (CPU unless capturable or fused)."""
    if on_param_device or fused:
        return torch.zeros((), dtype=scalar_dtype(fused), device=param.device)
    return torch.tensor(0.0, dtype=scalar_dtype())


def to_scalar(x: Any) -> Any:
    """A 1-element tensor hyperparameter as a 0-d tensor; anything else unchanged."""
    if isinstance(x, Tensor) and x.dim() != 0:
        return x.squeeze()
    return x


def write_back(param: Tensor, new_param: Tensor) -> None:
    """``param.copy_(new_param)`` under the casting rule of torch's in-place updates.

    torch updates a parameter in place (``param.addcdiv_(...)``), which refuses to store a
    result of a wider kind (a float update into an integer parameter) with a
    ``RuntimeError``; ``copy_`` alone would cast silently.
    """
    if new_param is param:
        return
    if not torch.can_cast(new_param.dtype, param.dtype):
        raise RuntimeError(
            f"result type {_scalar_type_name(new_param.dtype)} can't be cast to the desired "
            f"output type {_scalar_type_name(param.dtype)}"
        )
    param.copy_(new_param)


def _scalar_type_name(dtype: torch.dtype) -> str:
    """torch's name of a dtype in its messages: ``Float``, ``Long``, ``ComplexFloat``."""
    return torch.empty(0, dtype=dtype).type().removeprefix("torch.").removesuffix("Tensor")


def check_fused_flags(fused: bool | None, foreach: bool | None, differentiable: bool) -> None:
    """torch's constructor checks for ``fused`` (e.g. torch/optim/adam.py:109-117)."""
    if fused:
        if differentiable:
            raise RuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _check_fused_param(p: Tensor) -> None:
    if not (p.device.type in FUSED_DEVICES and torch.is_floating_point(p)):
        raise RuntimeError(
            "`fused=True` requires all the params to be floating point Tensors of "
            f"supported devices: {list(FUSED_DEVICES)} but {p.dtype} and {p.device.type}"
        )


class FunctionalOptimizer(Optimizer):
    """Optimizer shell over a pure ``init``/``step`` core (see the module docstring).

    Subclasses set :attr:`config_from_group`, :attr:`state_type`, :attr:`init_state` and
    :attr:`step_param`, and keep torch's constructor (signature, defaults, validation).
    """

    #: builds the frozen config of the functional core from one param group
    config_from_group: ClassVar[Callable[..., Any]]
    #: the NamedTuple type of the per-parameter state
    state_type: ClassVar[type]
    #: ``init(param, cfg) -> State``
    init_state: ClassVar[Callable[..., Any]]
    #: ``step(param, grad, state, cfg) -> (param, State)``
    step_param: ClassVar[Callable[..., tuple[Tensor, Any]]]
    #: whether torch accepts sparse gradients for this optimiser
    accepts_sparse_grad: ClassVar[bool] = False
    #: torch's error text for a sparse gradient, when it refuses one
    sparse_grad_error: ClassVar[str] = "does not support sparse gradients"

    def _check_param(self, p: Tensor, group: dict[str, Any]) -> None:
        """torch's per-parameter checks at ``step`` time (sparse grads, capturable, fused)."""
        if p.grad is not None and p.grad.is_sparse and not self.accepts_sparse_grad:
            raise RuntimeError(self.sparse_grad_error)
        if group.get("capturable") and p.device.type not in CAPTURABLE_DEVICES:
            raise AssertionError(
                "If capturable=True, params and state_steps must be on supported devices: "
                f"{list(CAPTURABLE_DEVICES)}."
            )
        if group.get("fused") and not self.state[p]:
            _check_fused_param(p)

    def _load_state(self, p: Tensor) -> Any:
        return self.state_type(**self.state[p])

    def _store_state(self, p: Tensor, new_state: _State) -> None:
        state = self.state[p]
        state.clear()
        state.update({k: v for k, v in new_state._asdict().items() if v is not None})

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimisation step; ``closure`` re-evaluates the loss (with grad)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            cfg = type(self).config_from_group(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self._check_param(p, group)
                if not self.state[p]:
                    self._store_state(p, type(self).init_state(p, cfg))
                new_param, new_state = type(self).step_param(p, p.grad, self._load_state(p), cfg)
                write_back(p, new_param)
                self._store_state(p, new_state)
        return loss
