"""Which torch is installed, and what that means for our own classes.

``optverify check`` and :func:`~optverify.assert_conforms` judge a class against *the
installed* torch, whatever its version. Our reimplementations (``optverify.optimizers``) are
a different contract: they mirror torch :data:`MIRRORED` bit for bit. On another release a
difference in their exact tests is *version drift* (torch changed, or we did not follow), not
a failure of the tool; :func:`drift_reason` words it, and the test suite's ``exact_torch``
marker (``tests/conftest.py``) turns such a failure into an xfail carrying that reason.

Optimisers or constructor flags an older torch lacks are reported by :func:`lacking` and
:func:`lacking_flags`, for a skip with a reason; :func:`backfill` supplies the typing names
an older torch lacks, so that optverify imports on every torch from 2.0 on.
"""

from __future__ import annotations

import inspect
from importlib import metadata

__all__ = [
    "MIRRORED",
    "backfill",
    "drift_reason",
    "installed_torch",
    "lacking",
    "lacking_flags",
    "mirrors_installed_torch",
    "release",
]

#: the torch release (major.minor) our own optimisers mirror bit for bit
MIRRORED = "2.13"


def installed_torch() -> str:
    """The installed torch's version, e.g. ``2.13.0+cpu`` (read without importing torch)."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        import torch

        return str(torch.__version__)


def release(version: str | None = None) -> str:
    """``major.minor`` of ``version`` (default: the installed torch): ``2.14.1+cpu`` -> ``2.14``."""
    text = installed_torch() if version is None else version
    parts = text.split("+")[0].split(".")
    return ".".join(parts[:2])


def mirrors_installed_torch(version: str | None = None) -> bool:
    """Whether our classes' bit-for-bit contract is with this torch (:data:`MIRRORED`)."""
    return release(version) == MIRRORED


def drift_reason(name: str, difference: BaseException | str, version: str | None = None) -> str:
    """One paragraph for an xfail: which optimiser drifted, between which torch releases, and
    the first lines of the difference."""
    text = str(difference).strip().splitlines()
    shown = " / ".join(line.strip() for line in text[:3]) or type(difference).__name__
    return (
        f"version drift: our {name} mirrors torch {MIRRORED} bit for bit; torch "
        f"{installed_torch() if version is None else version} differs: {shown}"
    )


def lacking(name: str) -> str | None:
    """Why ``torch.optim.<name>`` cannot be a reference here (``None`` when it exists)."""
    import torch.optim

    if hasattr(torch.optim, name):
        return None
    return f"torch {installed_torch()} has no torch.optim.{name}"


def lacking_flags(name: str, flags: tuple[str, ...] | list[str]) -> list[str]:
    """Those of ``flags`` that ``torch.optim.<name>``'s constructor does not take here."""
    import torch.optim

    cls = getattr(torch.optim, name, None)
    if cls is None:
        return list(flags)
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return [f for f in flags if f not in params]


def backfill() -> None:
    """Give an older torch the typing names our modules import from it, so that optverify
    imports on every torch from 2.0 on: ``torch.optim.optimizer.ParamsT`` (added in torch
    2.2). A no-op where torch has them."""
    from collections.abc import Iterable
    from typing import Any

    import torch
    import torch.optim.optimizer as optimizer_module

    if not hasattr(optimizer_module, "ParamsT"):
        params_t: Any = Iterable[torch.Tensor] | Iterable[dict[str, Any]]
        setattr(optimizer_module, "ParamsT", params_t)  # noqa: B010 (absent from the stubs)
