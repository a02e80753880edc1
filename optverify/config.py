"""``[tool.optverify]`` in a project's ``pyproject.toml``: the settings of its checks.

::

    [tool.optverify]
    seed = 0                        # Hypothesis seed (default: random per run)
    max-examples = 200              # examples per target (default 100)
    dtypes = ["float64", "float32"] # parameter dtypes to draw from
    ignore-state = []               # state keys not compared (optverify check)

    [tool.optverify.targets."src/mylib/optim.py:MyAdam"]   # or "mylib.optim:MyAdam", "MyAdam"
    against = "Adam"
    pins = { eps = 1e-8, betas = [0.9, 0.99] }  # hyperparameters fixed for both sides
    init = { backend = "eager" }                # constructor arguments of the target only
    max-examples = 500
    ignore-state = ["step"]

A target's table overrides the top level; options given on the command line (or to the
pytest marker) override both. :func:`settings_for` returns the merged :class:`Settings` of
one target. A key is spelled with ``-`` or ``_``; an unknown key or a value of the wrong type
is a :class:`ConfigError` (one line, naming the file and the key). Arrays become tuples, so
``betas = [0.9, 0.99]`` pins the tuple ``(0.9, 0.99)``.
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_MAX_EXAMPLES",
    "ConfigError",
    "Settings",
    "bind_init",
    "find_pyproject",
    "load",
    "settings_for",
]

DEFAULT_MAX_EXAMPLES = 100

#: key -> (type check, what the value must be)
_KEYS: dict[str, tuple[Any, str]] = {
    "against": (lambda v: isinstance(v, str) and bool(v), "a torch optimiser name"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "max-examples": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
        "an integer >= 1",
    ),
    "dtypes": (
        lambda v: isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v),
        "a non-empty array of dtype names",
    ),
    "ignore-state": (
        lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
        "an array of state keys",
    ),
    "pins": (lambda v: isinstance(v, dict), "a table of hyperparameter = value"),
    "init": (lambda v: isinstance(v, dict), "a table of constructor argument = value"),
}


class ConfigError(ValueError):
    """A malformed ``[tool.optverify]`` table: exit 2 with this one-line message."""


@dataclass(frozen=True)
class Settings:
    """The merged settings of one target (defaults < top level < target table < command line)."""

    target: str | None = None
    against: str | None = None
    seed: int | None = None
    #: ``None``: the tool's default (``optverify check``: :data:`DEFAULT_MAX_EXAMPLES`; the
    #: pytest plugin: the Hypothesis profile's ``max_examples``)
    max_examples: int | None = None
    #: dtype names (``None``: the tool's default, float64 and float32)
    dtypes: tuple[str, ...] | None = None
    ignore_state: tuple[str, ...] = ()
    pins: Mapping[str, Any] = field(default_factory=dict)
    init: Mapping[str, Any] = field(default_factory=dict)
    #: the file the settings came from (``None``: none found)
    source: str | None = None

    @property
    def dtype_text(self) -> str | None:
        """The dtypes as ``optverify check --dtype`` takes them (``"float64,float32"``)."""
        return ",".join(self.dtypes) if self.dtypes else None

    @property
    def ignore_state_text(self) -> str:
        """The keys as ``optverify check --ignore-state`` takes them (``"step,mu"``)."""
        return ",".join(self.ignore_state)

    def pin_items(self) -> list[str]:
        """The pins as ``--set KEY=VALUE`` items (values as Python literals)."""
        return [f"{k}={v!r}" for k, v in self.pins.items()]


def find_pyproject(start: str | Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (default: the working directory)."""
    here = Path.cwd() if start is None else Path(start)
    here = here.resolve()
    if here.is_file():
        here = here.parent
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _normalise(table: Mapping[str, Any], where: str, allowed: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for raw, value in table.items():
        key = raw.replace("_", "-")
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {raw!r}; valid: {', '.join(sorted(allowed))}")
        check, what = _KEYS[key]
        if not check(value):
            raise ConfigError(f"{where}: {raw} must be {what}, not {value!r}")
        if key in ("pins", "init"):
            for name in value:
                if not str(name).isidentifier():
                    raise ConfigError(f"{where}: {raw}: {name!r} is not an argument name")
            value = {str(k): _tuples(v) for k, v in value.items()}
        out[key] = value
    return out


def load(path: str | Path) -> dict[str, Any]:
    """The validated ``[tool.optverify]`` table of ``path``: ``{"top": {...}, "targets":
    {name: {...}}}`` with normalised keys (``{}`` parts where absent)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    table = data.get("tool", {}).get("optverify", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.optverify] must be a table")
    table = dict(table)
    targets = table.pop("targets", {})
    if not isinstance(targets, dict) or not all(isinstance(v, dict) for v in targets.values()):
        raise ConfigError(f"{path}: [tool.optverify.targets] must hold one table per target")
    top_keys = set(_KEYS) - {"against", "init"}
    top = _normalise(table, f"{path} [tool.optverify]", top_keys | {"pins"})
    per_target = {
        name: _normalise(t, f'{path} [tool.optverify.targets."{name}"]', set(_KEYS))
        for name, t in targets.items()
    }
    return {"top": top, "targets": per_target}


def _same_target(key: str, target: str, base: Path) -> bool:
    """A table ``key`` names ``target`` exactly, or as the same file (a key's relative path is
    read from ``base``, the pyproject's folder; a target's from the working directory), or,
    when the key has no ``:``, by the class name alone (``"MyAdam"`` names ``"a/b.py:MyAdam"``)."""
    if ":" not in key:
        return key == target.rpartition(":")[2]
    key_where, _, key_cls = key.rpartition(":")
    where, _, cls = target.rpartition(":")
    if key_cls != cls:
        return False
    if key_where == where:
        return True
    if key_where.endswith(".py") and where.endswith(".py"):
        return (base / key_where).resolve() == Path(where).resolve()
    return False


def settings_for(
    target: str | None,
    cli: Mapping[str, Any] | None = None,
    *,
    pyproject: str | Path | None = None,
    start: str | Path | None = None,
) -> Settings:
    """The merged settings of ``target`` (``path.py:Class``, ``module:Class`` or a class name).

    ``cli`` holds the options given on the command line or to the pytest marker, by field name
    of :class:`Settings` (``max_examples``, ``seed``, ``dtypes``, ``ignore_state``, ``pins``,
    ``init``, ``against``); a ``None`` value counts as not given. ``pins`` and ``init`` merge
    key by key (the command line wins); every other option replaces. ``pyproject`` names the
    file; otherwise the nearest ``pyproject.toml`` at or above ``start`` (default: the working
    directory) is read when it has a ``[tool.optverify]`` table.
    """
    path = Path(pyproject) if pyproject is not None else find_pyproject(start)
    merged: dict[str, Any] = {}
    source = None
    if path is not None:
        table = load(path)
        if table["top"] or table["targets"] or pyproject is not None:
            source = str(path)
        layers = [table["top"]]
        if target is not None:
            layers += [
                t for k, t in table["targets"].items() if _same_target(k, target, path.parent)
            ]
        for layer in layers:
            for key, value in layer.items():
                name = key.replace("-", "_")
                if name in ("pins", "init"):
                    merged[name] = {**merged.get(name, {}), **value}
                else:
                    merged[name] = value
    for name, value in (cli or {}).items():
        if value is None:
            continue
        if name not in Settings.__dataclass_fields__ or name in ("target", "source"):
            raise TypeError(f"settings_for: unknown option {name!r}")
        merged[name] = {**merged.get(name, {}), **value} if name in ("pins", "init") else value
    for name in ("dtypes", "ignore_state"):
        if name in merged and merged[name] is not None:
            merged[name] = tuple(merged[name])
    return replace(Settings(target=target, source=source), **merged)


def bind_init(cls: type, init: Mapping[str, Any]) -> type:
    """A subclass of ``cls`` whose constructor always receives ``init`` (the target-only
    arguments) and whose signature no longer lists them, so that only the hyperparameters
    torch also takes are varied. ``cls`` itself when ``init`` is empty."""
    if not init:
        return cls
    fixed = dict(init)
    signature = inspect.signature(cls)
    names = set(signature.parameters)
    takes_kwargs = any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
    )
    unknown = sorted(set(fixed) - names) if not takes_kwargs else []
    if unknown:
        raise ConfigError(f"init: {cls.__name__}'s constructor takes no {', '.join(unknown)}")

    class Bound(cls):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **{**kwargs, **fixed})

    kept = [p for n, p in signature.parameters.items() if n not in fixed]
    Bound.__name__, Bound.__qualname__ = cls.__name__, cls.__qualname__
    Bound.__module__ = cls.__module__
    Bound.__signature__ = signature.replace(parameters=kept)
    bound: type = Bound
    return bound
