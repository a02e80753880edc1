"""The shell shared by the fast paths: one multi-tensor update per param group.

A fast optimiser subclasses a readable one (so it inherits torch's constructor, defaults,
validation, per-parameter checks and state layout) and :class:`MultiTensorOptimizer`, which
replaces the per-parameter loop of :class:`~optimizers._shell.FunctionalOptimizer` by:

1. for every parameter with a gradient, in order: the readable class's checks
   (``_check_param``) and lazy state creation (the readable ``init``);
2. parameters the fast path does not cover (:meth:`MultiTensorOptimizer._eligible`: sparse
   gradients, a gradient of another dtype, shape or device, a missing state key, a flag the
   subclass leaves to the readable core) take the readable functional ``step``, unchanged;
3. the rest get one call of the subclass's ``_update(params, grads, states, cfg)``, which
   updates the parameters and their state tensors **in place**, as torch's foreach and
   fused kernels do (no out-of-place temporaries of the parameter's size where the
   algorithm does not need one, hence no page faults on every step).

What step 1 and 2 decided for a group is kept (:class:`_GroupPlan`) and reused while the
group dict, its hyperparameters (``lr`` aside: a number the update reads every step), its
parameter objects, which of them have gradients (of the same dtype, device and shape), and
the state dicts and their value objects are unchanged; a steady-state step then costs a
handful of list comparisons before ``_update``. The ``step`` counters of a bucket are
advanced through one buffer (:func:`advance_steps`).

``_update`` groups tensors by device and dtype (:func:`buckets`) and views complex tensors as
real pairs (:func:`real`), exactly where the readable cores do. It then runs either

* the **multi-tensor** path: ``torch._foreach_*`` operations over the whole bucket, one C++
  call per operation for all tensors (several passes over memory, no compilation); or
* the **compiled** path (``compiled = True``): a per-tensor kernel written with ordinary
  tensor arithmetic and compiled by :func:`torch.compile` (:class:`CompiledKernel`) into a
  single loop that reads and writes each element once, for every tensor of at least
  :attr:`MultiTensorOptimizer.compile_min_numel` elements; smaller tensors take the
  multi-tensor path (one compiled call costs ~40 µs of Python overhead, about the time of a
  multi-tensor pass over 2^16 float32 elements).

Both paths compute the per-parameter scalars (bias corrections, decayed learning rates) with
the readable core's own Python expressions, then hand them to the tensor operations as
Python numbers (the multi-tensor path) or as one small tensor of the parameter's dtype (the
compiled path, so that a new value never triggers a recompilation). Only the order of the
tensor operations differs from the readable core (and, in the compiled kernels, a division
by a per-step scalar may become a multiplication by its reciprocal, computed in Python
double: one rounding of difference), which is why the fast paths are held to the *faithful*
tolerance, not to bit-for-bit equality.
"""

from __future__ import annotations

import operator
import types
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from optverify.optimizers._shell import FunctionalOptimizer, write_back

__all__ = [
    "COMPILED_DTYPES",
    "CompiledKernel",
    "MultiTensorOptimizer",
    "advance_steps",
    "buckets",
    "compile_variant",
    "item",
    "lerp",
    "per_step",
    "real",
    "step_values",
    "take",
]

#: dtypes the compiled kernels run in (others take the multi-tensor path): torch's CPU
#: kernels compute float16/bfloat16 in float32 with Python scalars rounded to float32, which
#: 0-d scalar tensors of the parameter's dtype would not reproduce.
COMPILED_DTYPES = (torch.float32, torch.float64)

Bucket = tuple[list[Tensor], list[Tensor], list[dict[str, Any]]]


def item(x: Any) -> float:
    """A Python number from a float or a 0-d tensor (what torch's ``Scalar`` arguments read)."""
    return float(x.item()) if isinstance(x, Tensor) else float(x)


def lerp(start: Tensor, end: Tensor, weight: Tensor, *, low: bool) -> Tensor:
    """``torch.lerp(start, end, weight)`` with its branch chosen in Python: ATen computes
    ``start + weight * (end - start)`` where ``|weight| < 0.5`` (``low``) and
    ``end - (end - start) * (1 - weight)`` elsewhere. Inside a compiled kernel a scalar weight
    would otherwise be compared for every element and both formulas blended (measured: 25 %
    slower for Adam's kernel with the data in cache)."""
    return start + weight * (end - start) if low else end - (end - start) * (1 - weight)


def real(tensors: Sequence[Tensor]) -> list[Tensor]:
    """Complex tensors viewed as real pairs (``torch.view_as_real``); real ones unchanged."""
    if not any(map(Tensor.is_complex, tensors)):
        return list(tensors)
    return [torch.view_as_real(t) if t.is_complex() else t for t in tensors]


def step_values(steps: Sequence[Tensor]) -> list[float]:
    """The Python numbers of a bucket's 0-d ``step`` tensors, in one read-back (``stack`` then
    ``tolist``) instead of one ``.item()`` per tensor."""
    if len({s.device for s in steps}) == 1:
        return [float(v) for v in torch.stack(list(steps)).tolist()]
    return [float(s.item()) for s in steps]


def advance_steps(owner: Any, steps: Sequence[Tensor]) -> list[float]:
    """``t <- t + 1`` for every 0-d ``step`` tensor of a bucket, then their Python numbers
    (:func:`step_values`).

    The step tensors are *adopted* as in the flat buffers of :mod:`optimizers._fast._group`:
    re-pointed (``Tensor.set_``) to the elements of one 1-D buffer kept per ``owner`` (the
    optimiser), so that a step is one ``add_`` and one ``tolist`` instead of one
    ``torch._foreach_add_`` over 0-d tensors and a ``stack`` (measured: ~5 µs against
    ~260 µs for ResNet-50's 161 tensors). They stay the state dict's objects, 0-d, of their
    dtype. The buffer is used only while every step tensor is the adopted object *and* still
    lies at its element's address (anything that replaced or re-pointed one, e.g.
    ``load_state_dict``, is seen); otherwise the tensors are adopted anew. Shared, view,
    mixed-dtype or mixed-device step tensors take ``torch._foreach_add_``.
    """
    kept = _STEPS.get(owner)
    if kept is None:
        kept = _STEPS[owner] = {}
    n = len(steps)
    first = steps[0] if n else None
    entry = kept.get((n, id(first)))
    if entry is not None:
        held, flat, ptrs = entry
        if all(map(operator.is_, steps, held)) and list(map(Tensor.data_ptr, steps)) == ptrs:
            flat.add_(1)
            return [float(v) for v in flat.tolist()]
    if first is None or not _adoptable(steps):
        torch._foreach_add_(list(steps), 1)
        return step_values(steps) if steps else []
    flat = torch.stack(list(steps)) + 1
    for i, t in enumerate(steps):
        t.set_(flat.untyped_storage(), i, (), ())
    if len(kept) >= 64:
        kept.clear()
    kept[(n, id(first))] = (list(steps), flat, list(map(Tensor.data_ptr, steps)))
    return [float(v) for v in flat.tolist()]


def _adoptable(steps: Sequence[Tensor]) -> bool:
    first = steps[0]
    return (
        len({id(t) for t in steps}) == len(steps)
        and all(
            t.dim() == 0 and t._base is None and not t.requires_grad
            and t.dtype is first.dtype and t.device == first.device
            for t in steps
        )
    )  # fmt: skip


#: per optimiser: the adopted step tensors of each bucket, their buffer and addresses
_STEPS: weakref.WeakKeyDictionary[Any, dict[Any, tuple[list[Tensor], Tensor, list[int]]]] = (
    weakref.WeakKeyDictionary()
)


def per_step(values: Sequence[float], fn: Callable[[float], Any]) -> list[Any]:
    """``[fn(t) for t in values]``, with ``fn`` (a readable core's scalar function) called once
    per distinct ``t``: the parameters of a group usually share their step count."""
    cache: dict[float, Any] = {}
    out = []
    for t in values:
        if t not in cache:
            cache[t] = fn(t)
        out.append(cache[t])
    return out


def take(values: Sequence[Any], indices: Sequence[int]) -> list[Any]:
    """``[values[i] for i in indices]``."""
    return [values[i] for i in indices]


def buckets(
    params: Sequence[Tensor], grads: Sequence[Tensor], states: Sequence[dict[str, Any]]
) -> Iterator[Bucket]:
    """The parameters grouped by (device, dtype), each group in the original order."""
    by_key: dict[tuple[torch.device, torch.dtype], Bucket] = {}
    for p, g, s in zip(params, grads, states, strict=True):
        ps, gs, ss = by_key.setdefault((p.device, p.dtype), ([], [], []))
        ps.append(p)
        gs.append(g)
        ss.append(s)
    yield from by_key.values()


class CompiledKernel:
    """A per-tensor kernel compiled on first use by ``torch.compile(fullgraph=True,
    dynamic=True)``: one compilation serves every tensor size.

    ``kernel.call(tensors, s, **flags)`` calls ``fn(*tensors, s, **flags)`` with the
    (contiguous) tensors as they are (``None`` passed through) and the Python scalars packed
    into one 1-D tensor ``s`` of the first tensor's dtype, so a new scalar value never
    recompiles and one call costs one small tensor, not one per scalar. Python ``bool`` flags
    select variants; each variant (flags, which tensors are ``None``, their numbers of
    dimensions and dtypes, the device type) is compiled once, from a copy of the kernel's
    code object of its own (:func:`compile_variant`): dynamo's recompile limit (8 per code
    object, a hard error under ``fullgraph=True``) then counts per variant, not per kernel,
    which one process with SGD's flags, two dtypes and a few ranks exceeded (found by the
    slow kept-plan tests in one process).

    The tensors are passed unflattened on purpose: a ``view(-1)`` argument is a view, and
    for a graph that mutates views of its inputs dynamo guards on the views' bases and
    AOTAutograd's runtime prologue handles the aliasing on every call. Measured on
    ResNet-50's list (42 compiled calls per Adam step): 0.78 ms of prologue and 0.37 ms of
    guards per call with views, 9 µs and 31 µs without; the step went from 155 ms to 77 ms
    (under the profiler). The kernels are elementwise (or full reductions), so the shape
    does not change what they compute.

    The kernel writes its results into its inputs with ``copy_``; inductor turns that into
    stores into the original buffers, fused with the arithmetic into one loop.
    """

    #: inductor options. ``cpp.enable_floating_point_contract_flag``: ``a * b + c`` may
    #: become one fused multiply-add, as it does in ATen's vectorised CPU kernels (built by
    #: GCC, whose default is ``-ffp-contract=fast``; e.g. ``addcdiv``'s
    #: ``self + value * (t1 / t2)`` is one FMA there). Without it a step differs from the
    #: readable core's by one rounding almost everywhere, and over hundreds of steps a
    #: parameter that wanders through zero accumulates a relative difference above the
    #: faithful tolerance (found by ``test_compiled_matches_readable[Adamax]``).
    #: ``size_asserts``: dynamo's guards already check the inputs; the asserts cost ~1 µs
    #: per tensor per call.
    options: ClassVar[dict[str, Any]] = {
        "cpp.enable_floating_point_contract_flag": "fast",
        "size_asserts": False,
    }

    def __init__(self, fn: Callable[..., None]) -> None:
        self.fn = fn
        self._variants: dict[tuple[Any, ...], Callable[..., None]] = {}

    def call(self, tensors: Sequence[Tensor | None], s: Tensor, **flags: bool) -> None:
        """Run the kernel (its variant compiled on first use) with the scalars packed into
        ``s`` (built once for the tensors that share them)."""
        key = (
            tuple(sorted(flags.items())),
            tuple(None if t is None else (t.dim(), t.dtype) for t in tensors),
            s.device.type,
        )
        compile_variant(self.fn, self._variants, key)(*tensors, s, **flags)


def compile_variant(
    fn: Callable[..., Any], variants: dict[Any, Any], key: Any, *, dynamic: bool = True
) -> Any:
    """``variants[key]``, made on first use: ``fn`` compiled by ``torch.compile(fullgraph=True,
    dynamic=dynamic)`` (:attr:`CompiledKernel.options`) from a copy of its code object, so
    that dynamo's cache and recompile limit are this variant's alone."""
    compiled = variants.get(key)
    if compiled is None:
        copy = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__)
        compiled = variants[key] = torch.compile(
            copy, fullgraph=True, dynamic=dynamic, options=CompiledKernel.options
        )
    return compiled


class MultiTensorOptimizer(FunctionalOptimizer):
    """Mixin over a readable optimiser: one multi-tensor ``_update`` per param group.

    Subclasses list it first (``class Adam(MultiTensorOptimizer, readable.Adam)``), set
    :attr:`required_state` and implement ``_update``; ``compiled = True`` selects the
    compiled kernels for large tensors (see the module docstring).
    """

    #: run the compiled per-tensor kernels (for tensors of at least ``compile_min_numel``)
    compiled: ClassVar[bool] = False
    #: smallest tensor the compiled kernels take (smaller ones: the multi-tensor path)
    compile_min_numel: ClassVar[int] = 2**16
    #: state keys the fast path reads; a parameter missing one takes the readable core,
    #: which raises exactly as torch does (e.g. RMSprop's ``KeyError('momentum_buffer')``)
    required_state: ClassVar[tuple[str, ...]] = ()
    #: whether the readable ``init`` creates any state (SGD's does not: its momentum buffer
    #: is made by the first momentum step), so that it is not called on every step
    creates_state: ClassVar[bool] = True

    def _update(
        self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], cfg: Any
    ) -> None:
        """The group's fast parameters, one (device, dtype) bucket at a time (the list a kept
        plan passes, once found to be one bucket, is not split again)."""
        known = _ONE_BUCKET.get(self)
        if known is None:
            known = _ONE_BUCKET[self] = {}
        if known.get(id(params)) is params:
            self._update_bucket(params, grads, states, cfg)
            return
        split = list(buckets(params, grads, states))
        if len(split) == 1:
            if len(known) >= 64:
                known.clear()
            known[id(params)] = params
        for ps, gs, sts in split:
            self._update_bucket(ps, gs, sts, cfg)

    def _update_bucket(
        self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], cfg: Any
    ) -> None:
        """Update one bucket's parameters and state tensors in place (the subclass's rule)."""
        raise NotImplementedError

    def _fast_supports(self, cfg: Any) -> bool:
        """Whether the fast path covers this group's configuration (default: always)."""
        return True

    def _eligible(self, p: Tensor, grad: Tensor, state: dict[str, Any], cfg: Any) -> bool:
        """Whether ``p`` takes the fast path: a dense gradient like ``p`` and every state key
        the fast path reads."""
        return (
            not grad.is_sparse
            and grad.layout is torch.strided
            and p.layout is torch.strided
            and grad.dtype is p.dtype
            and grad.device == p.device
            and grad.shape == p.shape
            and all(state.get(k) is not None for k in self.required_state)
        )

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimisation step; ``closure`` re-evaluates the loss (with grad)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        plans = _PLANS.get(self)
        if plans is None:
            plans = _PLANS[self] = {}
        for index, group in enumerate(self.param_groups):
            self._fast_step_group(group, plans, index)
        return loss

    def _fast_step_group(
        self, group: dict[str, Any], plans: dict[int, _GroupPlan], index: int
    ) -> None:
        """One param group: the kept :class:`_GroupPlan` when it still holds, else the full
        per-parameter loop (which keeps a new plan)."""
        cls = type(self)
        cfg = cls.config_from_group(group)
        params: list[Tensor] = group["params"]
        grads = [p.grad for p in params]
        state_of = self.state
        states = list(map(state_of.get, params))
        plan = plans.get(index)
        if plan is not None and plan.fits(group, params, grads, states):
            kept: list[Tensor] = list(map(grads.__getitem__, plan.fast))  # type: ignore[arg-type]
            if all(map(_grad_like, plan.fast_params, kept)):
                if kept:
                    self._update(plan.fast_params, kept, plan.fast_states, cfg)
                return
        new = _GroupPlan(group, params, grads, states)
        fast = self._fast_supports(cfg)
        fast_params: list[Tensor] = []
        fast_grads: list[Tensor] = []
        fast_states: list[dict[str, Any]] = []
        for i, (p, grad) in enumerate(zip(params, grads, strict=True)):
            if grad is None:
                continue
            self._check_param(p, group)
            state = state_of[p]
            if not state and cls.creates_state:
                self._store_state(p, cls.init_state(p, cfg))
                new.stable = False
            if fast and self._eligible(p, grad, state, cfg):
                new.fast.append(i)
                fast_params.append(p)
                fast_grads.append(grad)
                fast_states.append(state)
                continue
            new.slow.append(i)
            self._readable_param(p, grad, cfg)
        if fast_params:
            self._update(fast_params, fast_grads, fast_states, cfg)
        new.fast_params, new.fast_states = fast_params, fast_states
        if new.stable and not (group.get("capturable") or group.get("fused")):
            plans[index] = new
        else:
            plans.pop(index, None)

    def _readable_param(self, p: Tensor, grad: Tensor, cfg: Any) -> None:
        """One parameter through the readable core's functional step."""
        cls = type(self)
        new_param, new_state = cls.step_param(p, grad, self._load_state(p), cfg)
        write_back(p, new_param)
        self._store_state(p, new_state)


def _grad_like(p: Tensor, grad: Tensor) -> bool:
    """Whether ``grad`` is a dense gradient of ``p``'s dtype, device and shape (what a kept
    plan needs of a new gradient object)."""
    return (
        grad.layout is torch.strided
        and grad.dtype is p.dtype
        and grad.shape == p.shape
        and grad.device == p.device
    )


def _same(a: Any, b: Any) -> bool:
    """Equal hyperparameter values: the same object, or equal non-tensor values (tuples
    compared item by item, tensors by identity)."""
    if a is b:
        return True
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return False
    return type(a) is type(b) and bool(a == b)


class _GroupPlan:
    """What one step decided for a param group, and what it decided it for.

    Kept by :meth:`MultiTensorOptimizer.step` and reused while :meth:`fits`: the same group
    dict with the same hyperparameters (``lr`` excepted: it enters the update as a number,
    never the decisions), the same parameter objects, gradients present for the same ones
    (new gradient objects are checked by :func:`_grad_like`), the same state dicts holding
    the same value objects (a ``load_state_dict``, a buffer created or replaced, a step of
    the readable core: all new objects). A step that created state keeps no plan.
    """

    def __init__(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor | None],
        states: list[dict[str, Any] | None],
    ) -> None:
        self.group = group
        self.hyper = {k: v for k, v in group.items() if k not in ("params", "lr")}
        self.params = list(params)
        self.missing = [g is None for g in grads]
        self.states = states
        self.values = _values(states)
        self.fast: list[int] = []
        self.slow: list[int] = []
        self.fast_params: list[Tensor] = []
        self.fast_states: list[dict[str, Any]] = []
        self.stable = all(
            s is not None for s, g in zip(states, grads, strict=True) if g is not None
        )

    def fits(
        self,
        group: dict[str, Any],
        params: list[Tensor],
        grads: list[Tensor | None],
        states: list[dict[str, Any] | None],
    ) -> bool:
        """Whether the plan holds for this step (see the class docstring)."""
        if group is not self.group or len(params) != len(self.params) or self.slow:
            return False
        hyper = self.hyper
        if len(group) - ("lr" in group) - 1 != len(hyper) or not all(
            k in ("params", "lr") or (k in hyper and _same(v, hyper[k])) for k, v in group.items()
        ):
            return False
        return (
            all(map(operator.is_, params, self.params))
            and [g is None for g in grads] == self.missing
            and all(map(operator.is_, states, self.states))
            and _same_objects(_values(states), self.values)
        )


def _values(states: list[dict[str, Any] | None]) -> list[Any]:
    return [v for s in states if s is not None for v in s.values()]


def _same_objects(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))


#: per optimiser: the parameter lists (a kept plan's) found to be one (device, dtype) bucket
_ONE_BUCKET: weakref.WeakKeyDictionary[Any, dict[int, list[Tensor]]] = weakref.WeakKeyDictionary()

#: per optimiser: param group index -> plan
_PLANS: weakref.WeakKeyDictionary[Any, dict[int, _GroupPlan]] = weakref.WeakKeyDictionary()
