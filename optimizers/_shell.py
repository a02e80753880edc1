"""The thin ``torch.optim.Optimizer`` shell shared by every optimiser in this package.

Each algorithm module holds the mathematics as a pure functional core:

* a frozen ``*Config`` dataclass built from one param group (``Config.from_group``, derived
  from its fields by :class:`GroupConfig`),
* a ``*State`` ``NamedTuple`` whose fields are torch's ``state[p]`` keys,
* ``init(param, grad, cfg) -> State`` and ``step(param, grad, state, cfg) -> (param, State)``,
  which never mutate their inputs. ``init`` receives the gradient that triggers the state's
  creation (torch shapes some state from it: Rprop's step sizes, Adafactor's factors, Muon's
  buffer), or ``None`` where torch creates state before any gradient exists (Adagrad's
  constructor).

:class:`FunctionalOptimizer` turns such a core into an optimiser with torch's behaviour
around the maths: param groups (named or not), lazy per-parameter state, ``closure``
handling, skipping parameters whose ``grad`` is ``None``, and ``state_dict`` interchange
with the torch class (same keys, dtypes and devices).

One step loop serves every optimiser (:meth:`FunctionalOptimizer.step`). Per param group it
builds the config once, then for each parameter with a gradient *prepares* it (torch's
checks, lazy state: :meth:`~FunctionalOptimizer._prepare_param`) and *updates* it (the core's
``step``, written back in place: :meth:`~FunctionalOptimizer._update_param`). By default each
parameter is prepared right before its update. Where torch scans a whole group before it
updates any parameter of it (Adafactor, Muon, SparseAdam, fused Adagrad), the subclass says so
(:meth:`~FunctionalOptimizer._scans_group_first`): every parameter is prepared first, then
:meth:`~FunctionalOptimizer._after_scan` runs torch's group-wide checks and may resolve the
config from the scanned parameters, then every parameter is updated.

The flags ``foreach``, ``fused``, ``capturable`` and ``differentiable`` choose *how* torch
computes, not *what*: they are accepted, validated like torch validates them and stored in
the param groups, and the readable for-loop core always runs. ``capturable=True`` is refused
at ``step`` on devices torch refuses it on, with torch's exception type; ``differentiable=True``
is stored, but the step here never records an autograd graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Protocol, Self

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = [
    "FUSED_DEVICES",
    "FunctionalOptimizer",
    "GroupConfig",
    "capturable_devices",
    "check_fused_flags",
    "group_key",
    "scalar_dtype",
    "step_counter",
    "to_scalar",
    "write_back",
]

# torch 2.13 torch/utils/_foreach_utils.py:13-24.
FUSED_DEVICES = ("mps", "cuda", "xpu", "hpu", "cpu", "mtia")


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


def capturable_devices(*, xla: bool = True) -> list[str]:
    """The device types torch allows ``capturable=True`` on (torch 2.13 optimizer.py:218-225):
    CUDA, XPU, HPU, the private-use backend and, unless ``xla=False``, XLA."""
    devices = ["cuda", "xpu", "hpu", torch._C._get_privateuse1_backend_name()]
    return [*devices, "xla"] if xla else devices


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


_REQUIRED: Any = object()


@dataclass(frozen=True)
class _Source:
    """Where one config field comes from in a param group (see :func:`group_key`)."""

    key: str | None = None
    index: int | None = None
    convert: Callable[[Any], Any] | None = None
    compute: Callable[[Mapping[str, Any]], Any] | None = None
    missing: Any = _REQUIRED

    def read(self, name: str, group: Mapping[str, Any]) -> Any:
        if self.compute is not None:
            return self.compute(group)
        key = name if self.key is None else self.key
        if key not in group and self.missing is not _REQUIRED:
            return self.missing
        value = group[key]
        if self.index is not None:
            value = value[self.index]
        return value if self.convert is None else self.convert(value)


def group_key(
    key: str | None = None,
    index: int | None = None,
    *,
    convert: Callable[[Any], Any] | None = None,
    compute: Callable[[Mapping[str, Any]], Any] | None = None,
    missing: Any = _REQUIRED,
) -> dict[str, Any]:
    """Field metadata saying where a :class:`GroupConfig` field is read from a param group,
    for ``dataclasses.field(metadata=group_key(...))``: ``group[key]`` (``key`` defaults to
    the field's name), element ``index`` of it where the group holds a pair (``betas``,
    ``eps``, ``etas``), passed through ``convert``; or ``compute(group)``. ``missing`` is the
    value where the group lacks ``key``. A field without this metadata reads
    ``group[name]``."""
    return {"group": _Source(key, index, convert, compute, missing)}


class GroupConfig:
    """Base of the frozen configs of the functional cores: :meth:`from_group` builds one
    from a param group, each field as its :func:`group_key` metadata says."""

    @classmethod
    def from_group(cls, group: Mapping[str, Any]) -> Self:
        """The config of one param group."""
        values = {
            f.name: f.metadata.get("group", _Source()).read(f.name, group)
            for f in fields(cls)  # type: ignore[arg-type]
        }
        return cls(**values)


class FunctionalOptimizer(Optimizer):
    """Optimizer shell over a pure ``init``/``step`` core (see the module docstring).

    Subclasses set :attr:`config_from_group`, :attr:`state_type`, :attr:`init_param` and
    :attr:`step_param`, and keep torch's constructor (signature, defaults, validation). They
    adapt the step loop through its hooks only: :meth:`_check_param`,
    :meth:`_prepare_param`, :meth:`_scans_group_first`, :meth:`_after_scan`,
    :meth:`_update_param` and :meth:`_finish_group`.
    """

    #: builds the frozen config of the functional core from one param group
    config_from_group: ClassVar[Callable[..., Any]]
    #: the NamedTuple type of the per-parameter state
    state_type: ClassVar[type]
    #: ``init(param, grad, cfg) -> State`` (``grad`` may be ``None``)
    init_param: ClassVar[Callable[..., Any]]
    #: ``step(param, grad, state, cfg) -> (param, State)``
    step_param: ClassVar[Callable[..., tuple[Tensor, Any]]]
    #: whether torch accepts sparse gradients for this optimiser
    accepts_sparse_grad: ClassVar[bool] = False
    #: torch's error text for a sparse gradient, when it refuses one
    sparse_grad_error: ClassVar[str] = "does not support sparse gradients"
    #: torch's ``capturable=True`` check at ``step``: whether XLA is among the devices,
    #: whether the parameter's ``step`` must be on its device, the tensors its message names
    capturable_xla: ClassVar[bool] = True
    capturable_checks_step: ClassVar[bool] = True
    capturable_tensors: ClassVar[str] = "params and state_steps"

    @classmethod
    def init_state(cls, p: Tensor, cfg: Any) -> Any:
        """``init_param(p, p.grad, cfg)``: the state of ``p`` created from its current gradient.

        Kept for :class:`optimizers._fast._base.MultiTensorOptimizer`, whose own step loop
        calls ``init_state(p, cfg)``.
        """
        return cls.init_param(p, p.grad, cfg)

    def _check_param(self, p: Tensor, group: dict[str, Any]) -> None:
        """torch's per-parameter checks at ``step`` time (sparse grads, capturable, fused)."""
        if p.grad is not None and p.grad.is_sparse and not self.accepts_sparse_grad:
            raise RuntimeError(self.sparse_grad_error)
        if group.get("capturable"):
            self._check_capturable(p)
        if group.get("fused") and not self.state[p]:
            _check_fused_param(p)

    def _check_capturable(self, p: Tensor) -> None:
        """torch's assertion for ``capturable=True`` (e.g. torch/optim/adam.py:403-411)."""
        devices = capturable_devices(xla=self.capturable_xla)
        step_t = self.state[p].get("step") if self.capturable_checks_step else None
        on_step_device = step_t is None or step_t.device.type == p.device.type
        if not (on_step_device and p.device.type in devices):
            raise AssertionError(
                f"If capturable=True, {self.capturable_tensors} must be on supported devices: "
                f"{devices}."
            )

    def _load_state(self, p: Tensor) -> Any:
        return self.state_type(**self.state[p])

    def _store_state(self, p: Tensor, new_state: _State) -> None:
        state = self.state[p]
        state.clear()
        state.update({k: v for k, v in new_state._asdict().items() if v is not None})

    def _scans_group_first(self, group: dict[str, Any]) -> bool:
        """Whether torch prepares every parameter of ``group`` before it updates any of them
        (default: no; each parameter is prepared right before its own update)."""
        return False

    def _prepare_param(
        self, p: Tensor, group: dict[str, Any], cfg: Any, scanned: Sequence[Tensor]
    ) -> None:
        """torch's per-parameter checks (:meth:`_check_param`), then the lazy state.

        ``scanned`` lists the parameters of ``group`` prepared before ``p`` in this step.
        """
        self._check_param(p, group)
        if not self.state[p]:
            self._store_state(p, type(self).init_param(p, p.grad, cfg))

    def _after_scan(self, params: Sequence[Tensor], group: dict[str, Any], cfg: Any) -> Any:
        """torch's checks on a whole scanned group, and the config its update uses (default:
        no checks, ``cfg`` unchanged). Called only where :meth:`_scans_group_first`."""
        return cfg

    def _update_param(self, p: Tensor, cfg: Any) -> None:
        """One parameter's update: the core's ``step``, the result written back in place."""
        grad = p.grad
        assert grad is not None
        new_param, new_state = type(self).step_param(p, grad, self._load_state(p), cfg)
        write_back(p, new_param)
        self._store_state(p, new_state)

    def _step_group(self, group: dict[str, Any]) -> None:
        """One param group: prepare and update each parameter with a gradient (see the
        module docstring for the two orders)."""
        cfg = type(self).config_from_group(group)
        params = [p for p in group["params"] if p.grad is not None]
        prepared: list[Tensor] = []
        if self._scans_group_first(group):
            for p in params:
                self._prepare_param(p, group, cfg, prepared)
                prepared.append(p)
            cfg = self._after_scan(params, group, cfg)
            for p in params:
                self._update_param(p, cfg)
        else:
            for p in params:
                self._prepare_param(p, group, cfg, prepared)
                prepared.append(p)
                self._update_param(p, cfg)
        self._finish_group(group, cfg)

    def _finish_group(self, group: dict[str, Any], cfg: Any) -> None:
        """Called once every parameter of ``group`` with a gradient has gone through
        :meth:`_update_param` (default: nothing). A multi-tensor path whose
        :meth:`_update_param` defers the parameters it covers updates them here, together."""

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimisation step; ``closure`` re-evaluates the loss (with grad)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss
