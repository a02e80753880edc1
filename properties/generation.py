"""Seeds that mean the same thing in every process.

Hypothesis (6.131 and later) now and then draws a literal taken from the source of every
*local* module imported so far (not site-packages; an editable install counts as local).
The same seed therefore draws different examples depending on what the process happened to
import first: another test file in the same pytest-xdist worker, an ``import analytic``, the
user's own modules. A seed printed by :func:`properties.conformance.assert_conforms` must
reproduce its counterexample anywhere, so while :func:`reproducible_generation` is active
Hypothesis draws from its own global constants only.

The hook is Hypothesis's private ``_get_local_constants``; on a version without it this is a
no-op (those versions do not mix local literals in, so seeds are reproducible already).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["reproducible_generation", "use_reproducible_generation"]

try:  # pragma: no branch - depends on the installed Hypothesis
    from hypothesis.internal.conjecture import providers as _providers
    from hypothesis.internal.constants_ast import Constants as _Constants
except ImportError:  # pragma: no cover
    _providers = None  # type: ignore[assignment]
    _Constants = None  # type: ignore[assignment,misc]


#: Hypothesis's own function (kept for tests that show what it changes)
ORIGINAL_LOCAL_CONSTANTS: Callable[[], Any] | None = (
    getattr(_providers, "_get_local_constants", None) if _providers is not None else None
)


def _hook_available() -> bool:
    return (
        _providers is not None
        and callable(getattr(_providers, "_get_local_constants", None))
        and hasattr(getattr(_providers, "CONSTANTS_CACHE", None), "cache")
    )


def _no_local_constants() -> Any:
    return _Constants()


def _swap(replacement: Callable[[], Any]) -> Callable[[], Any]:
    previous: Callable[[], Any] = _providers._get_local_constants
    _providers._get_local_constants = replacement
    # the cache of permitted constants mixes both pools; it is rebuilt on demand
    _providers.CONSTANTS_CACHE.cache.clear()
    return previous


@contextmanager
def reproducible_generation() -> Iterator[None]:
    """Within the block, what Hypothesis draws from a seed depends on the seed alone."""
    if not _hook_available():
        yield
        return
    previous = _swap(_no_local_constants)
    try:
        yield
    finally:
        _swap(previous)


def use_reproducible_generation() -> None:
    """Make :func:`reproducible_generation` permanent for this process (a test session)."""
    if _hook_available():
        _swap(_no_local_constants)
