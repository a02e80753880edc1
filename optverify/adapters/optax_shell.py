"""An optax ``GradientTransformation`` driven as a ``torch.optim.Optimizer``.

Each parameter is run through the library on its own, with its own optax state: torch keeps
a step counter per parameter and skips a parameter whose gradient is ``None``, so the shell
does the same (a transformation that couples parameters, such as global-norm clipping, sees
one parameter at a time). The transformation is rebuilt inside a ``jax.jit``-compiled
function from the param group's current hyperparameters at every step, so an LR scheduler's
edit takes effect: numeric ones enter as weakly typed traced scalars (data, no
recompilation), booleans and ``None`` (optax's "no momentum") are static and select the
compiled function. JAX runs with 64-bit types enabled (``jax.enable_x64``), so float64
stays float64.

Tensors cross as NumPy arrays (bit-exact both ways). For an elementwise alias the parameter
is flattened and zero-padded to a power of two, so one compiled function serves every shape
of that size class; the padding is cut off again, and elements never meet.

State is kept in ``self.state[p]``, one entry per leaf of the optax state, under torch's key
where :mod:`optverify.adapters.names` maps the field (``count`` -> ``step``, ``mu`` ->
``exp_avg``...), else under ``optax.<field>``; it survives ``state_dict()`` round trips.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from optverify.adapters.base import LibraryOptimizer, MissingExtra

__all__ = ["OptaxOptimizer", "import_optax"]


def import_optax(target: str) -> tuple[Any, Any]:
    """``(jax, optax)``, or :class:`MissingExtra` naming the ``jax`` extra."""
    try:
        import jax
        import optax
    except ImportError as error:
        raise MissingExtra(target, "jax", error.name or "optax") from None
    return jax, optax


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@functools.cache
def _compiled(factory: Callable[..., Any], static: tuple[tuple[str, Any], ...]) -> Any:
    """``(init, update)`` compiled for ``factory`` with the static hyperparameters ``static``.

    ``init(x, hyper)`` is ``factory(**static, **hyper).init(x)``; ``update(g, state, x,
    hyper)`` gives ``(x + u, state')``. The numeric ``hyper`` are Python numbers, which
    ``jax.jit`` traces as weakly typed scalars: they take the parameters' dtype where they
    meet an array, and ``1 - b1`` is formed at the scalar's full precision first, as in
    optax called with Python floats. (``optax.inject_hyperparams`` would turn them into
    float32 arrays for float32 parameters, and ``1 - b1`` for ``b1 = 0.9999999`` would
    cancel to 1.19e-7 instead of 1e-7: a 16 % error of the adapter's own.)
    """
    jax, optax = import_optax("optax")

    def init(x: Any, hyper: Mapping[str, Any]) -> Any:
        return factory(**dict(static), **hyper).init(x)

    def update(g: Any, state: Any, x: Any, hyper: Mapping[str, Any]) -> Any:
        updates, new_state = factory(**dict(static), **hyper).update(g, state, x)
        return optax.apply_updates(x, updates), new_state

    return jax.jit(init), jax.jit(update)


def _padded_size(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _leaf_names(paths: list[tuple[Any, ...]]) -> list[str]:
    """Each state leaf's field name; ``<position>.<field>`` where a field name repeats."""
    fields = [str(getattr(path[-1], "name", getattr(path[-1], "idx", "leaf"))) for path in paths]
    names = []
    for position, (path, name) in enumerate(zip(paths, fields, strict=True)):
        if fields.count(name) > 1:
            where = ".".join(str(getattr(k, "idx", getattr(k, "name", ""))) for k in path[:-1])
            name = f"{where or position}.{name}"
        names.append(name)
    return names


class OptaxOptimizer(LibraryOptimizer):
    """Base of the ``optax:NAME`` and ``module:function`` shells."""

    #: hyperparameters (the library's names) -> ``GradientTransformation``
    FACTORY: ClassVar[Callable[..., Any]]
    #: NumPy, through which optax's arrays pass, has no bfloat16
    UNSUPPORTED_DTYPES: ClassVar[tuple[torch.dtype, ...]] = (
        *LibraryOptimizer.UNSUPPORTED_DTYPES,
        torch.bfloat16,
    )

    def _validate(self, library_kwargs: Mapping[str, Any]) -> None:
        import_optax(self.TARGET)
        type(self).FACTORY(**library_kwargs)

    def _to_jax(self, jnp: Any, t: Tensor, size: int | None) -> Any:
        array = t.detach().resolve_conj().resolve_neg().cpu().numpy()
        if size is not None:
            flat = array.reshape(-1)
            array = np.concatenate([flat, np.zeros(size - flat.size, dtype=flat.dtype)])
        return jnp.asarray(array)

    def _to_torch(self, a: Any, p: Tensor, size: int | None) -> Tensor:
        t = torch.from_numpy(np.array(a)).to(p.device)
        if size is not None and t.dim() == 1 and t.numel() == size:
            t = t[: p.numel()].reshape(p.shape).clone()
        return t

    def _step_param(self, p: Tensor, grad: Tensor, library_kwargs: Mapping[str, Any]) -> None:
        jax, _ = import_optax(self.TARGET)
        jnp = jax.numpy
        numeric = {k: v for k, v in library_kwargs.items() if _is_numeric(v)}
        static = tuple(sorted((k, v) for k, v in library_kwargs.items() if k not in numeric))
        size = _padded_size(p.numel()) if self.ELEMENTWISE else None
        with jax.enable_x64(True):
            init, update = _compiled(type(self).FACTORY, static)
            x = self._to_jax(jnp, p, size)
            template = init(x, numeric)
            leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
            names = _leaf_names([path for path, _ in leaves])
            stored = self.state[p]
            current = []
            for name, (_, fresh) in zip(names, leaves, strict=True):
                key = self.STATE_KEYS.get(name, f"optax.{name}")
                if key in stored:
                    value = self._to_jax(jnp, stored[key], size if fresh.ndim == 1 else None)
                    current.append(value.astype(fresh.dtype).reshape(fresh.shape))
                else:
                    current.append(fresh)
            state = jax.tree_util.tree_unflatten(treedef, current)
            new_x, new_state = update(self._to_jax(jnp, grad, size), state, x, numeric)
            p.copy_(self._to_torch(new_x, p, size))
            for name, leaf in zip(names, jax.tree_util.tree_leaves(new_state), strict=True):
                key = self.STATE_KEYS.get(name, f"optax.{name}")
                stored[key] = self._to_torch(leaf, p, size)
