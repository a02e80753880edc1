"""Loading what ``optverify check`` is asked to check: the target, ``--against``, ``--set``,
``--init`` and ``--dtype``, each validated with a one-line :class:`CheckError`.

A target is ``path/to/file.py:Name`` or ``package.module:Name``, where ``Name`` is a
``torch.optim.Optimizer`` subclass or a factory ``f(params, **hyperparameters)`` that returns
an optimiser (its keyword parameters say which hyperparameters it takes).
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from optverify.properties.specs import Spec

__all__ = [
    "DTYPE_NAMES",
    "MODE_FLAGS",
    "CheckError",
    "LoadedTarget",
    "check_pins",
    "load_target",
    "one_line",
    "parse_dtypes",
    "parse_pins",
    "resolve_against",
]

#: constructor flags that choose *how* torch computes; every torch implementation is
#: already a reference, so they are neither varied nor pinnable
MODE_FLAGS = frozenset({"foreach", "fused", "capturable", "differentiable"})

DTYPE_NAMES = ("float64", "float32", "bfloat16", "float16", "complex128", "complex64")


class CheckError(Exception):
    """A usage or loading problem: exit 2 with this one-line message."""


@dataclass(frozen=True)
class LoadedTarget:
    """The class under test and how it was imported (the repro snippet imports it the same way).

    ``kind`` is ``"adapter"`` (``optax:NAME``, ``keras:NAME``), ``"file"`` (``path`` is the
    absolute file, loaded as module ``module``) or
    ``"module"`` (``module`` is the dotted module name); ``attr`` is the class's name inside
    the module (dotted for a nested class); ``sys_path`` the directories put in front of
    ``sys.path`` for the import.
    """

    cls: Any  # an Optimizer subclass, or a factory f(params, **hyper) returning one
    text: str
    kind: str
    module: str
    attr: str
    path: str | None = None
    sys_path: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.cls.__name__

    @property
    def source_file(self) -> str | None:
        """The file that defines the class, when known (to locate a hang in the target)."""
        try:
            return inspect.getsourcefile(self.cls)
        except (TypeError, OSError):
            return self.path


def one_line(error: BaseException) -> str:
    """``Type: first line of the message``."""
    lines = str(error).strip().splitlines()
    text = lines[0].strip() if lines else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _import_file(path: Path, shown: str) -> tuple[Any, str]:
    name = path.stem if path.stem.isidentifier() else "optverify_target"
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, "__file__", None) != str(path):
        name = f"optverify_target_{path.stem if path.stem.isidentifier() else 'module'}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CheckError(f"cannot import {shown}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        sys.modules.pop(name, None)
        raise CheckError(f"cannot import {shown}: {one_line(error)}") from error
    return module, name


def _first_positional(fn: Any) -> str | None:
    """The name of ``fn``'s first positional parameter (the params), if it has one."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return params[0].name if params and params[0].kind in kinds else None


def _top_level_names(path: Path) -> tuple[set[str], list[str]] | None:
    """The names a source file binds at its top level and its classes, read without running
    it (so that a misspelt name is an error before torch is imported); ``None`` where that
    cannot be known (a syntax error, ``import *``, ``globals()`` or ``__getattr__``)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    names: set[str] = set()
    classes: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, ast.Name) and node.id == "globals":
            return None
    for node in tree.body:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(sub.name)
            elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                names.add(sub.id)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in sub.names)
        if isinstance(node, ast.ClassDef):
            classes.append(node.name)
    if "__getattr__" in names:
        return None
    return names, sorted(classes)


def _imports_resolve(path: Path) -> bool:
    """Whether every absolute import of the file names a module that can be found (without
    importing it): where one cannot, importing the file is the error to report."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return False
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    extra = [str(path.resolve().parent), os.getcwd()]
    saved = list(sys.path)
    sys.path[:0] = [e for e in extra if e not in sys.path]
    try:
        return all(
            root in sys.modules or importlib.util.find_spec(root) is not None for root in roots
        )
    except (ImportError, ValueError):
        return False
    finally:
        sys.path[:] = saved


def precheck_target(text: str) -> None:
    """Raise :class:`CheckError` for a ``file.py:Name`` target whose file binds no ``Name``,
    read from its source before anything (torch) is imported."""
    where, sep, attr = text.rpartition(":")
    if where in ("optax", "keras") or not (sep and attr and where.endswith(".py")):
        return
    path = Path(where).expanduser()
    if not path.is_file():
        return
    known = _top_level_names(path)
    if known is not None and attr.split(".")[0] not in known[0] and _imports_resolve(path):
        found = f"; classes there: {', '.join(known[1])}" if known[1] else ""
        raise CheckError(f"no class {attr!r} in {where}{found}")


def load_target(text: str) -> LoadedTarget:
    """Import ``path/to/file.py:Name`` or ``package.module:Name``.

    ``Name`` is an optimiser class or a factory ``f(params, **hyperparameters)``. Raises
    :class:`CheckError` (one line) when the file is missing, the import fails, the name is
    missing, or it is neither.
    """
    from optverify.adapters import AdapterError, is_adapter_target, load_adapter

    precheck_target(text)
    from torch.optim import Optimizer

    if is_adapter_target(text):
        try:
            cls = load_adapter(text)
        except AdapterError as error:
            raise CheckError(str(error).strip().splitlines()[0]) from None
        library, _, name = text.partition(":")
        return LoadedTarget(cls, text, "adapter", library, name)
    where, sep, attr = text.rpartition(":")
    if not sep or not where or not attr:
        raise CheckError(
            f"target {text!r}: expected path/to/file.py:ClassName or package.module:ClassName"
        )
    cwd = os.getcwd()
    is_file = where.endswith(".py") or "/" in where or os.sep in where
    if is_file:
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise CheckError(f"file not found: {where}")
        sys_path: tuple[str, ...] = (str(path.parent), cwd)
        for entry in reversed(sys_path):
            if entry not in sys.path:
                sys.path.insert(0, entry)
        module, module_name = _import_file(path, where)
        kind, file_path = "file", str(path)
    else:
        if not all(part.isidentifier() for part in where.split(".")):
            raise CheckError(f"target {text!r}: {where!r} is neither a .py file nor a module name")
        if cwd not in sys.path:
            sys.path.insert(0, cwd)
        try:
            module = importlib.import_module(where)
        except KeyboardInterrupt:
            raise
        except BaseException as error:
            raise CheckError(f"cannot import {where}: {one_line(error)}") from error
        module_file = getattr(module, "__file__", None) or ""
        sys_path = (cwd,) if module_file.startswith(cwd + os.sep) else ()
        kind, module_name, file_path = "module", where, None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            defined = sorted(
                n for n, v in vars(module).items()
                if isinstance(v, type) and issubclass(v, Optimizer) and v is not Optimizer
            )  # fmt: skip
            found = f"; optimiser classes there: {', '.join(defined)}" if defined else ""
            raise CheckError(f"no class {attr!r} in {where}{found}")
        obj = getattr(obj, part)
    is_class = isinstance(obj, type) and issubclass(obj, Optimizer)
    is_factory = not isinstance(obj, type) and callable(obj) and _first_positional(obj) is not None
    if not (is_class or is_factory):
        what = (
            "another class" if isinstance(obj, type) else f"an object of type {type(obj).__name__}"
        )
        raise CheckError(
            f"{where}:{attr} is neither a torch.optim.Optimizer subclass nor a factory "
            f"f(params, **hyperparameters) (it is {what}); see examples/functional_wrapper.py "
            "to wrap a functional optimiser"
        )
    return LoadedTarget(obj, text, kind, module_name, attr, file_path, sys_path)


def resolve_against(name: str) -> Spec:
    """The spec for ``Adam``, ``torch.optim.Adam`` (or another dotted path to a torch class);
    a near miss (``adam``) is answered with the closest name."""
    from optverify.properties.conformance import resolve_spec
    from optverify.properties.specs import SPECS

    try:
        return resolve_spec(name)
    except KeyError as error:
        message = str(error.args[0])
    module_name, _, attr = name.rpartition(".")
    if module_name and all(p.isidentifier() for p in name.split(".")):
        with contextlib.suppress(Exception):
            obj = getattr(importlib.import_module(module_name), attr)
            for spec in SPECS.values():
                if spec.reference is obj:
                    return spec
    raise CheckError(f"--against: {message}")


def parse_pins(items: Sequence[str], option: str = "--set") -> dict[str, Any]:
    """``["lr=1e-3", "betas=(0.9, 0.99)"]`` -> values (Python literals; a bare word is a string).
    ``option`` names the flag in error messages (``--set``, ``--init``)."""
    pins: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key.isidentifier() or not text:
            raise CheckError(f"{option} {item!r}: expected KEY=VALUE, e.g. {option} eps=1e-8")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            if not text.isidentifier():
                raise CheckError(
                    f"{option} {item}: {text!r} is not a Python literal "
                    "(a number, True/False/None, a quoted string or a tuple)"
                ) from None
            value = text  # a bare word: --set adjust_lr_fn=original
        pins[key] = value
    return pins


def parse_dtypes(text: str | None, spec: Spec) -> tuple[torch.dtype, ...] | None:
    """``"float64,float32"`` -> dtypes (``None``: the default, every dtype torch's class
    takes)."""
    import torch

    if text is None:
        return None
    names = [n.strip().removeprefix("torch.") for n in text.split(",") if n.strip()]
    if not names:
        raise CheckError(f"--dtype {text!r}: name at least one of {', '.join(DTYPE_NAMES)}")
    dtypes = []
    for name in names:
        if name not in DTYPE_NAMES:
            raise CheckError(f"--dtype {name!r}: unknown; valid: {', '.join(DTYPE_NAMES)}")
        dtype = getattr(torch, name)
        if dtype.is_complex and not spec.supports_complex:
            raise CheckError(f"--dtype {name}: torch.optim.{spec.name} does not take complex")
        real = {torch.complex64: torch.float32, torch.complex128: torch.float64}.get(dtype, dtype)
        if real not in spec.dtypes:
            raise CheckError(f"--dtype {name}: not a dtype checked for {spec.name}")
        dtypes.append(dtype)
    return tuple(dtypes)


def _signature_names(cls: type) -> set[str] | None:
    from optverify.properties.conformance import accepted_hyperparameters

    try:
        return accepted_hyperparameters(cls)
    except (TypeError, ValueError) as error:
        raise CheckError(f"cannot read {cls.__name__}'s constructor signature: {error}") from None


def check_pins(pins: Mapping[str, Any], target: LoadedTarget, spec: Spec, device: str) -> None:
    """``--set`` keys must be torch hyperparameters the target takes, with values torch takes."""
    import torch

    reference_names = (_signature_names(spec.reference) or set()) - MODE_FLAGS
    accepted = _signature_names(target.cls)
    for key in pins:
        if key in MODE_FLAGS:
            raise CheckError(
                f"--set {key}: chooses how torch computes, not what; every torch "
                "implementation is already compared"
            )
        if key not in reference_names:
            raise CheckError(
                f"--set {key}: torch.optim.{spec.name} takes no such hyperparameter; "
                f"valid: {', '.join(sorted(reference_names))}"
            )
        if accepted is not None and key not in accepted:
            raise CheckError(f"--set {key}: {target.name}'s constructor takes no {key!r}")
    if pins:
        dummy = torch.zeros(2, 2, device=device, requires_grad=True)
        try:
            spec.reference([dummy], **pins)
        except Exception as error:
            shown = ", ".join(f"{k}={v!r}" for k, v in pins.items())
            raise CheckError(
                f"--set {shown}: torch.optim.{spec.name} rejects it: {one_line(error)}"
            ) from None
