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

Measured (ResNet-50's list, Adam, one thread, interleaved with torch's fused kernel, ratio
of minima): per-tensor kernels 1.26-1.31x torch's time, this path 1.02-1.04x (per-round
median); one graph over all 161 tensors without flattening is about as fast but compiles
in ~100 s instead of ~25 s (inductor's work grows with the number of loops).
"""

from __future__ import annotations

import types
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optverify.optimizers._fast._base import COMPILED_DTYPES, CompiledKernel

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

    def valid(self, rows: list[Row]) -> bool:
        """Whether the adopted state tensors are still ``rows``' (the same objects)."""
        for k, adopted in enumerate(self.adopted):
            if adopted is not None and not all(
                a is r[k] for a, r in zip(adopted, rows, strict=True)
            ):
                return False
        return True

    def gather(self, rows: list[Row]) -> None:
        """Copy the slots that are not adopted into their buffers."""
        for k, views in enumerate(self.views):
            if views is not None and self.adopted[k] is None:
                torch._foreach_copy_(views, [r[k] for r in rows])  # type: ignore[misc]

    def scatter(self, rows: list[Row], read_only: Sequence[int]) -> None:
        """Copy the written slots that are not adopted back to their tensors."""
        for k, views in enumerate(self.views):
            if views is not None and self.adopted[k] is None and k not in read_only:
                torch._foreach_copy_([r[k] for r in rows], views)  # type: ignore[misc]


class _Cache:
    """Per optimiser: the flat buffers and the compiled graphs."""

    def __init__(self) -> None:
        self.flats: dict[Any, _Flat] = {}
        self.graphs: dict[Any, Callable[..., None]] = {}


_CACHES: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()


def _apply_rows(fn: Callable[..., None], rows: list[Row], s: Tensor, flags: Flags) -> None:
    """``fn(*row, s[i], **flags)`` for every row: the function compiled as one graph."""
    for i, row in enumerate(rows):
        fn(*row, s[i], **flags)


def _new_graph() -> Callable[..., None]:
    """:func:`_apply_rows` compiled, with a code object of its own (dynamo caches per code)."""
    code = _apply_rows.__code__.replace()
    fn = types.FunctionType(code, _apply_rows.__globals__, "_apply_rows")
    return torch.compile(fn, fullgraph=True, dynamic=False, options=CompiledKernel.options)


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


def _flat_row(
    cache: _Cache, rows: list[Row], read_only: Sequence[int]
) -> tuple[Row, Callable[[], None]]:
    """The flat row of ``rows`` (gathered now) and the function that scatters it back."""
    p = rows[0][0]
    assert p is not None
    key = (p.dtype, p.device, tuple(t is None for t in rows[0]),
           tuple(_identity(r[0]) for r in rows))  # fmt: skip
    flat = cache.flats.get(key)
    if flat is not None and not flat.valid(rows):
        flat = None
    if flat is None:
        if len(cache.flats) >= MAX_GRAPHS:
            cache.flats.clear()
        flat = cache.flats[key] = _Flat(rows, read_only)
    flat.gather(rows)
    return tuple(flat.flats), lambda: flat.scatter(rows, read_only)


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
    """
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
            key = (tuple(scalars(i)), fkey, present)
            small.setdefault(key, []).append(i)
    cache = _CACHES.get(opt)
    if cache is None:
        cache = _CACHES[opt] = _Cache()
    # (row, scalars, flags) to run, and the scatters to do afterwards
    todo: list[tuple[Row, tuple[float, ...], Flags]] = []
    scatters: list[Callable[[], None]] = []
    for (vals, _, _), members in small.items():
        if len(members) == 1:
            large.append(members[0])
            continue
        row, scatter = _flat_row(cache, [rows[i] for i in members], read_only)
        todo.append((row, vals, flag_of(members[0])))
        scatters.append(scatter)
    for i in sorted(large):
        todo.append((rows[i], tuple(scalars(i)), flag_of(i)))
    by_flags: dict[Any, list[tuple[Row, tuple[float, ...], Flags]]] = {}
    for item in todo:
        by_flags.setdefault(tuple(sorted(item[2].items())), []).append(item)
    for fkey, items in by_flags.items():
        _run(cache, kernel, items, fkey)
    for scatter in scatters:
        scatter()
    return sorted(rest)


def _run(
    cache: _Cache,
    kernel: CompiledKernel,
    items: list[tuple[Row, tuple[float, ...], Flags]],
    fkey: Any,
) -> None:
    """The rows of one flag variant: one graph, or one kernel call per row."""
    like = items[0][0][0]
    assert like is not None
    flags = dict(items[0][2])
    if len(items) >= GROUP_MIN_ROWS:
        shapes = tuple(tuple(None if t is None else tuple(t.shape) for t in r) for r, _, _ in items)
        key = (id(kernel), fkey, like.dtype, like.device, shapes)
        graph = cache.graphs.get(key)
        if graph is None and len(cache.graphs) < MAX_GRAPHS:
            graph = cache.graphs[key] = _new_graph()
        if graph is not None:
            s = torch.tensor([v for _, v, _ in items], dtype=like.dtype, device=like.device)
            graph(kernel.fn, [r for r, _, _ in items], s, flags)
            return
    packed: dict[tuple[float, ...], Tensor] = {}
    for row, vals, _ in items:
        packed_s = packed.get(vals)
        if packed_s is None:
            packed_s = packed[vals] = torch.tensor(vals, dtype=like.dtype, device=like.device)
        kernel.call(list(row), packed_s, **flags)
