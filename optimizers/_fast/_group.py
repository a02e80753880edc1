"""The compiled path over a whole bucket: small tensors flattened, one graph per param group.

Per-tensor compiled kernels (:class:`~optimizers._fast._base.CompiledKernel`) cost ~45 µs of
Python per call (dynamo's frame hook, guards, AOTAutograd's runtime wrapper) against ~2 µs
for a call of torch's fused CPU kernels, and a model's parameter list is mostly small tensors
(ResNet-50: 119 of its 161 tensors have fewer than 2^16 elements, 1.2 % of its elements).
:func:`run_compiled` therefore

1. **flattens the small tensors**: those under ``compile_min_numel`` that share their
   per-step scalars and flags are gathered, each slot (parameter, gradient, every state
   tensor) into one flat scratch buffer (one ``torch._foreach_copy_`` per slot), updated as
   one tensor by the same kernel, and scattered back (one ``torch._foreach_copy_`` per
   written slot). The state tensors stay where they are (torch's layout: one tensor per
   parameter), so ``state_dict`` is unchanged; the scratch buffers are kept between steps.
2. **compiles one graph per param group**: when a bucket has at least :data:`GROUP_MIN_ROWS`
   rows (the flat row and the large tensors), the kernel is applied to every row inside one
   function compiled by ``torch.compile(fullgraph=True, dynamic=False)``: one call per step,
   one C++ loop per row, with the rows' shapes fixed (a model's list does not change from
   step to step; a new list is a new graph, at most :data:`MAX_GRAPHS` per optimiser, beyond
   which the rows take the per-tensor kernels). Each graph gets its own copy of the code
   object, so dynamo's cache (and recompile limit) is per graph, not shared by every
   optimiser in the process. Fewer rows take the per-tensor kernels.

3. **keeps its decisions** (:class:`_Plan`: the indices left to the multi-tensor path, the
   flat buffers and their members, the large rows, the graph) while the written slots hold
   the same tensor objects, the read-only slots (the gradient: a new object every step
   after ``zero_grad()``) contiguous tensors of the same shapes, and the per-step scalars
   the same partition; a steady-state step is then a gather, one graph call, a scatter.

Measured (ResNet-50's list, Adam, one thread, interleaved with torch's fused kernel, ratio
of minima): per-tensor kernels 1.26-1.31x torch's time, this path 1.02-1.04x (per-round
median); one graph over all 161 tensors without flattening is about as fast but compiles
in ~100 s instead of ~25 s (inductor's work grows with the number of loops).
"""

from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optverify.optimizers._fast._base import COMPILED_DTYPES, CompiledKernel, compile_variant

__all__ = ["GROUP_MIN_ROWS", "MAX_GRAPHS", "run_compiled"]

#: rows (flat buffer + large tensors) from which a bucket is compiled as one graph
GROUP_MIN_ROWS = 8
#: graphs kept per optimiser (param groups x distinct lists x flag variants)
MAX_GRAPHS = 8

Row = tuple[Tensor | None, ...]
Flags = Mapping[str, bool]


class _Flat:
    """The flat buffers of one set of small tensors: per slot, one buffer and its views.

    Slot 0 (the parameters) and the read-only slots (the gradient) are copied in and out
    every step. The other slots (state tensors) are *adopted*: their tensors are re-pointed
    (``Tensor.set_``) to their views of the buffer, so they stay the state dict's objects,
    with torch's layout, and need no copy at all; a state tensor that is not the adopted
    object any more (``load_state_dict``, a view of a complex tensor) rebuilds the buffers.
    """

    def __init__(self, rows: list[Row], read_only: Sequence[int]) -> None:
        p = rows[0][0]
        assert p is not None
        shapes = [r[0].shape for r in rows if r[0] is not None]
        sizes = [shape.numel() for shape in shapes]
        self.flats: list[Tensor | None] = []
        self.views: list[list[Tensor] | None] = []
        self.adopted: list[list[Tensor] | None] = []
        for k in range(len(rows[0])):
            members = [r[k] for r in rows]
            if members[0] is None:
                self.flats.append(None)
                self.views.append(None)
                self.adopted.append(None)
                continue
            flat = torch.empty(sum(sizes), dtype=p.dtype, device=p.device)
            views = [v.view(shape) for v, shape in zip(flat.split(sizes), shapes, strict=True)]
            self.flats.append(flat)
            self.views.append(views)
            adopt = k != 0 and k not in read_only and all(t._base is None for t in members)  # type: ignore[union-attr]
            if adopt:
                torch._foreach_copy_(views, members)  # type: ignore[arg-type]
                for t, v in zip(members, views, strict=True):
                    assert t is not None
                    t.set_(v)
            self.adopted.append(list(members) if adopt else None)  # type: ignore[arg-type]

        self.sizes, self.shapes = sizes, shapes

    def valid(self, rows: list[Row], read_only: Sequence[int]) -> bool:
        """Whether the adopted state tensors are still ``rows``' (the same objects)."""
        for k, adopted in enumerate(self.adopted):
            if k in read_only:
                continue
            if adopted is not None and not all(
                a is r[k] for a, r in zip(adopted, rows, strict=True)
            ):
                return False
        return True

    def _gather_read_only(self, k: int, current: list[Tensor]) -> None:
        """Slot ``k`` (the gradients): copied into the buffer at every step. Gradients are
        the caller's tensors, often aliased elsewhere (DDP's bucket views, a gradient
        accumulation buffer): they are never re-pointed into the buffer."""
        views = self.views[k]
        assert views is not None
        torch._foreach_copy_(views, current)

    def holds(self, ids: set[int]) -> bool:
        """Whether one of the tensors with these ids is adopted here."""
        return any(id(t) in ids for a in self.adopted if a is not None for t in a)

    def gather(
        self, slots: Sequence[Sequence[Tensor | None]], members: list[int], read_only: Sequence[int]
    ) -> None:
        """Copy the slots that are not adopted into their buffers (``slots[k][i]`` for the
        ``members`` ``i``)."""
        for k, views in enumerate(self.views):
            if views is None:
                continue
            if k in read_only:
                self._gather_read_only(k, list(map(slots[k].__getitem__, members)))  # type: ignore[arg-type]
            elif self.adopted[k] is None:
                torch._foreach_copy_(views, list(map(slots[k].__getitem__, members)))  # type: ignore[arg-type]

    def scatter(
        self, slots: Sequence[Sequence[Tensor | None]], members: list[int], read_only: Sequence[int]
    ) -> None:
        """Copy the written slots that are not adopted back to their tensors."""
        for k, views in enumerate(self.views):
            if views is not None and self.adopted[k] is None and k not in read_only:
                torch._foreach_copy_(list(map(slots[k].__getitem__, members)), views)  # type: ignore[arg-type]


class _Cache:
    """Per optimiser: the flat buffers, the compiled graphs and the plans."""

    def __init__(self) -> None:
        self.flats: dict[Any, _Flat] = {}
        self.graphs: dict[Any, Callable[..., None]] = {}
        self.plans: dict[Any, _Plan] = {}


_CACHES: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()


def _apply_rows(fn: Callable[..., None], rows: list[Row], s: Tensor, flags: Flags) -> None:
    """``fn(*row, s[i], **flags)`` for every row: the function compiled as one graph."""
    for i, row in enumerate(rows):
        fn(*row, s[i], **flags)


def _eligible(row: Row, min_numel: int) -> int:
    """0: not for the compiled path; 1: small (flattened); 2: large (a row of its own)."""
    p = row[0]
    assert p is not None
    if p.dtype not in COMPILED_DTYPES or p.numel() == 0:
        return 0
    if not all(t is None or (t.is_contiguous() and t.shape == p.shape) for t in row):
        return 0
    return 2 if p.numel() >= max(min_numel, 2) else 1


def _identity(t: Tensor | None) -> int:
    """The id of ``t``'s own tensor (the complex tensor of a real view)."""
    base = t._base if t is not None else None
    return id(base if base is not None else t)


def _flat_for(cache: _Cache, rows: list[Row], read_only: Sequence[int]) -> _Flat:
    """The flat buffers of ``rows`` (kept between steps; rebuilt when an adopted state tensor
    is not the same object any more). A new one drops the other flats and every plan: the
    state tensors it adopts may be ones another flat adopted before."""
    p = rows[0][0]
    assert p is not None
    key = (p.dtype, p.device, tuple(t is None for t in rows[0]),
           tuple(_identity(r[0]) for r in rows))  # fmt: skip
    flat = cache.flats.get(key)
    if flat is not None and not flat.valid(rows, read_only):
        flat = None
    if flat is None:
        # a flat that adopted some of these state tensors before would update its old buffer,
        # not them, if it were used again (a gradient absent for one step, then back): drop
        # it, and the plans (they may hold it)
        mine = {id(t) for r in rows for t in r if t is not None}
        stale = [k for k, f in cache.flats.items() if k == key or f.holds(mine)]
        if stale or len(cache.flats) >= MAX_GRAPHS:
            cache.plans.clear()
        for k in stale:
            del cache.flats[k]
        if len(cache.flats) >= MAX_GRAPHS:
            cache.flats.clear()
        flat = cache.flats[key] = _Flat(rows, read_only)
    return flat


def run_compiled(
    opt: Any,
    kernel: CompiledKernel,
    slots: Sequence[Sequence[Tensor | None]],
    scalars: Callable[[int], Sequence[float]],
    flags: Flags | Callable[[int], Flags],
    *,
    min_numel: int,
    read_only: Sequence[int] = (1,),
) -> list[int]:
    """Apply ``kernel`` to every index the compiled path takes; return the others (for the
    multi-tensor path), in order.

    ``slots[k][i]`` is the ``k``-th tensor of parameter ``i`` (slot 0 the parameter, the
    others as the kernel takes them; ``None`` passed through), ``scalars(i)`` its per-step
    scalars, ``flags`` (or ``flags(i)``) its kernel variant. Slots in ``read_only`` (the
    gradient) are not written back from the flat buffer.

    With fixed ``flags`` the decisions (which index goes where, the flat buffers, the graph)
    are kept as a :class:`_Plan`, reused while the written slots hold the same tensor objects,
    the read-only slots tensors of the same shapes, and the scalars the same partition.
    """
    n = len(slots[0])
    cache = _CACHES.get(opt)
    if cache is None:
        cache = _CACHES[opt] = _Cache()
    svals = [tuple(scalars(i)) for i in range(n)]
    if callable(flags):
        return _plan(cache, kernel, slots, svals, flags, min_numel, read_only).run(slots, svals)
    distinct = dict.fromkeys(svals)
    index = {v: j for j, v in enumerate(distinct)}
    labels = None if len(distinct) <= 1 else tuple(map(index.__getitem__, svals))
    first = slots[0][0] if n else None
    key = (id(kernel), id(first), tuple(sorted(flags.items())), labels, n, tuple(read_only))
    held = [t for k, ts in enumerate(slots) if k not in read_only for t in ts]
    loose = [t for k in read_only for t in slots[k]]
    plan = cache.plans.get(key)
    if plan is None or not plan.fits(held, loose):
        plan = _plan(cache, kernel, slots, svals, flags, min_numel, read_only)
        if len(cache.plans) >= MAX_GRAPHS:
            cache.plans.clear()
        cache.plans[key] = plan
        plan.held, plan.loose_shapes = held, [None if t is None else t.shape for t in loose]
    return plan.run(slots, svals)


class _Plan:
    """What :func:`run_compiled` decided for one list of tensors: the indices left to the
    multi-tensor path, the flat buffers (with their members), the large rows, the graph (or
    ``None``: per-tensor kernels), and what it was decided for (:meth:`fits`)."""

    def __init__(
        self,
        kernel: CompiledKernel,
        rest: list[int],
        flats: list[tuple[_Flat, list[int]]],
        large: list[int],
        flags: Flags | Callable[[int], Flags],
        read_only: Sequence[int],
    ) -> None:
        self.kernel, self.rest, self.flats, self.large = kernel, rest, flats, large
        self.flags, self.read_only = flags, read_only
        self.graph: Callable[..., None] | None = None
        self.held: list[Tensor | None] = []
        self.loose_shapes: list[torch.Size | None] = []

    def fits(self, held: list[Tensor | None], loose: list[Tensor | None]) -> bool:
        """Whether the plan holds for these tensors: the written slots the same objects (the
        adopted state tensors among them), the read-only ones contiguous, of the same shapes."""
        return (
            len(held) == len(self.held)
            and all(map(operator.is_, held, self.held))
            and len(loose) == len(self.loose_shapes)
            and all(map(_same_shape, loose, self.loose_shapes))
        )

    def run(
        self, slots: Sequence[Sequence[Tensor | None]], svals: list[tuple[float, ...]]
    ) -> list[int]:
        """One step: gather, the graph (or the per-tensor kernels), scatter."""
        items: list[tuple[Row, tuple[float, ...], Flags]] = []
        flag_of = self.flags if callable(self.flags) else (lambda i, f=self.flags: f)
        for flat, members in self.flats:
            flat.gather(slots, members, self.read_only)
            items.append((tuple(flat.flats), svals[members[0]], flag_of(members[0])))
        for i in self.large:
            items.append((tuple(ts[i] for ts in slots), svals[i], flag_of(i)))
        if self.graph is not None:
            like = items[0][0][0]
            assert like is not None
            s = torch.tensor([v for _, v, _ in items], dtype=like.dtype, device=like.device)
            self.graph(self.kernel.fn, [r for r, _, _ in items], s, items[0][2])
        else:
            _per_tensor(self.kernel, items)
        for flat, members in self.flats:
            flat.scatter(slots, members, self.read_only)
        return self.rest


def _same_shape(t: Tensor | None, shape: torch.Size | None) -> bool:
    if t is None:
        return shape is None
    return shape is not None and t.shape == shape and t.is_contiguous()


def _plan(
    cache: _Cache,
    kernel: CompiledKernel,
    slots: Sequence[Sequence[Tensor | None]],
    svals: list[tuple[float, ...]],
    flags: Flags | Callable[[int], Flags],
    min_numel: int,
    read_only: Sequence[int],
) -> _Plan:
    """Decide where every index goes (and build the flat buffers, adopting state tensors)."""
    n = len(slots[0])
    rows: list[Row] = [tuple(ts[i] for ts in slots) for i in range(n)]
    flag_of = flags if callable(flags) else (lambda i, f=flags: f)
    fixed = None if callable(flags) else tuple(sorted(flags.items()))
    rest: list[int] = []
    small: dict[Any, list[int]] = {}
    large: list[int] = []
    for i, row in enumerate(rows):
        kind = _eligible(row, min_numel)
        if kind == 0:
            rest.append(i)
        elif kind == 2:
            large.append(i)
        else:
            present = tuple(t is None for t in row)
            fkey = fixed if fixed is not None else tuple(sorted(flag_of(i).items()))
            small.setdefault((svals[i], fkey, present), []).append(i)
    flats: list[tuple[_Flat, list[int]]] = []
    lone = [m[0] for m in small.values() if len(m) == 1]
    if len(small) + len(large) < GROUP_MIN_ROWS:  # the rows: one per flat, lone or large
        # no graph: a small tensor on its own would be one compiled call (~45 us of Python)
        # where the multi-tensor path costs a few us (measured at 1e4: SGD-momentum 0.099
        # against 0.036 ms, Adagrad 0.104 against 0.052)
        rest += lone
    else:
        large += lone
    for members in small.values():
        if len(members) > 1:
            flats.append((_flat_for(cache, [rows[i] for i in members], read_only), members))
    large.sort()
    plan = _Plan(kernel, sorted(rest), flats, large, flags, read_only)
    variants = {tuple(sorted(flag_of(i).items())) for i in [m[0] for _, m in flats] + large}
    if len(variants) > 1:  # several flag variants: one graph (or kernel calls) per variant
        out = _Variants(plan, flag_of)
        for fkey, sub in zip(out.fkeys, out.subs, strict=True):
            _attach_graph(cache, sub, rows, fkey)
        return out
    _attach_graph(cache, plan, rows, variants.pop() if variants else ())
    return plan


def _attach_graph(cache: _Cache, plan: _Plan, rows: list[Row], fkey: Any) -> None:
    """Give ``plan`` its graph when it has at least :data:`GROUP_MIN_ROWS` rows."""
    if len(plan.flats) + len(plan.large) < GROUP_MIN_ROWS:
        return
    like = plan.flats[0][0].flats[0] if plan.flats else rows[plan.large[0]][0]
    assert like is not None
    kept = [tuple(f.flats) for f, _ in plan.flats] + [rows[i] for i in plan.large]
    shapes = tuple(tuple(None if t is None else tuple(t.shape) for t in r) for r in kept)
    key = (id(plan.kernel), fkey, like.dtype, like.device, shapes)
    if key in cache.graphs or len(cache.graphs) < MAX_GRAPHS:
        # the rows' shapes fixed (dynamic=False), a code object of its own per graph
        plan.graph = compile_variant(_apply_rows, cache.graphs, key, dynamic=False)
    else:
        plan.graph = None


class _Variants(_Plan):
    """A plan whose rows need several flag variants: one sub-plan per variant."""

    def __init__(self, plan: _Plan, flag_of: Callable[[int], Flags]) -> None:
        super().__init__(plan.kernel, plan.rest, [], [], plan.flags, plan.read_only)
        groups: dict[Any, _Plan] = {}
        for flat, members in plan.flats:
            fkey = tuple(sorted(flag_of(members[0]).items()))
            sub = groups.setdefault(
                fkey, _Plan(plan.kernel, [], [], [], plan.flags, plan.read_only)
            )
            sub.flats.append((flat, members))
        for i in plan.large:
            fkey = tuple(sorted(flag_of(i).items()))
            sub = groups.setdefault(
                fkey, _Plan(plan.kernel, [], [], [], plan.flags, plan.read_only)
            )
            sub.large.append(i)
        self.fkeys = list(groups)
        self.subs = list(groups.values())

    def run(
        self, slots: Sequence[Sequence[Tensor | None]], svals: list[tuple[float, ...]]
    ) -> list[int]:
        for sub in self.subs:
            sub.run(slots, svals)
        return self.rest


def _per_tensor(kernel: CompiledKernel, items: list[tuple[Row, tuple[float, ...], Flags]]) -> None:
    """One kernel call per row (the scalars packed once per distinct tuple)."""
    packed: dict[tuple[float, ...], Tensor] = {}
    for row, vals, flags in items:
        like = row[0]
        assert like is not None
        packed_s = packed.get(vals)
        if packed_s is None:
            packed_s = packed[vals] = torch.tensor(vals, dtype=like.dtype, device=like.device)
        kernel.call(list(row), packed_s, **flags)
