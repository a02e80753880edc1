"""``optverify check``: does anyone's optimiser behave like ``torch.optim.X``?

::

    optverify check path/to/file.py:MyAdam --against Adam [--set eps=1e-8] [--max-examples N]
    optverify check package.module:MyAdam --against torch.optim.Adam --format json

The command loads the target class, then runs :func:`properties.conformance.assert_conforms`
(the same property a user's pytest suite can call) with ``validation=True``: Hypothesis draws
whole problems (parameters, param groups, gradient streams from tiny to near overflow,
``inf``/``NaN`` and ``None`` gradients, hyperparameter changes between steps, checkpoints
reloaded mid-run, long runs, and now and then one hyperparameter out of torch's valid range)
and runs each in lock step against every implementation torch has (for-loop, foreach, fused),
with the faithful tolerance. It varies only the hyperparameters both constructors accept;
``--set`` pins values.

Exit codes: 0 conforms (the examples run and what was varied are printed); 1 a mismatch
(the minimal counterexample and a self-contained Python snippet that reproduces it without
optverify); 2 a usage or loading problem (one line on stderr, no traceback unless
``--debug``). ``register(subparsers)`` adds the subcommand to the ``optverify`` parser.

Before the property runs, a short probe compares the target's per-parameter state layout
with torch's. Keys only one side keeps are not compared (the report says which); a key kept
as a Python number on one side and a one-element tensor on the other is compared by value;
a key whose values cannot be compared (another shape or type) is left out and reported.
Parameters are always compared, after every step.

Each example runs under a deadline (``--timeout``): a ``SIGALRM`` watchdog (in the main
thread, on POSIX) interrupts a ``step()`` that hangs and the example is reported. Shrinking
a counterexample stops after ``--shrink-time`` seconds with the smallest one found so far.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import inspect
import json
import math
import os
import random
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from properties.conformance import NonConformance, Summary
    from properties.harness import Divergence, Problem
    from properties.specs import Spec

__all__ = [
    "CheckError",
    "ExampleTimeout",
    "Layout",
    "LoadedTarget",
    "Outcome",
    "divergence_line",
    "execute",
    "headline",
    "load_target",
    "parse_dtypes",
    "parse_pins",
    "probe_layout",
    "register",
    "repro_snippet",
    "resolve_against",
    "run_check",
]

EXIT_CONFORMS, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2

#: constructor flags that choose *how* torch computes; every torch implementation is
#: already a reference, so they are neither varied nor pinnable
MODE_FLAGS = frozenset({"foreach", "fused", "capturable", "differentiable"})

DTYPE_NAMES = ("float64", "float32", "bfloat16", "float16", "complex128", "complex64")

_PROG = "optverify check"


class CheckError(Exception):
    """A usage or loading problem: exit 2 with this one-line message."""


# ---------------------------------------------------------------------------------------------
# the command line


def register(subparsers: Any) -> None:
    """Add ``check`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "check",
        help="check anyone's optimiser class against torch.optim (exit 0/1/2)",
        description=(
            "Property-based differential test of an optimiser class against torch.optim: "
            "exit 0 conforms, 1 mismatch (minimal counterexample and a reproducing snippet), "
            "2 usage or loading problem."
        ),
    )
    p.add_argument(
        "target",
        metavar="TARGET",
        help="path/to/file.py:ClassName or package.module:ClassName",
    )
    p.add_argument(
        "--against",
        required=True,
        metavar="NAME",
        help="the torch optimiser: a name such as Adam, or torch.optim.Adam",
    )
    p.add_argument(
        "--set",
        dest="pins",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pin a hyperparameter (VALUE is a Python literal; tuples allowed); repeatable",
    )
    p.add_argument("--max-examples", type=_positive_int, default=100, help="examples (default 100)")
    p.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument(
        "--dtype",
        default=None,
        metavar="DTYPE[,DTYPE]",
        help=f"parameter dtypes to draw from ({', '.join(DTYPE_NAMES)}; default float64,float32)",
    )
    p.add_argument(
        "--timeout",
        type=_nonnegative_float,
        default=60.0,
        metavar="SECONDS",
        help="per-example deadline; a step that runs longer is reported (0: none; default 60)",
    )
    p.add_argument(
        "--shrink-time",
        type=_nonnegative_float,
        default=30.0,
        metavar="SECONDS",
        help="stop minimising a counterexample after this long (default 30)",
    )
    p.add_argument(
        "--no-shrink", action="store_true", help="report the first counterexample as found"
    )
    p.add_argument(
        "--no-validation",
        action="store_true",
        help="never draw out-of-range hyperparameters (skip the constructor-validation check)",
    )
    p.add_argument(
        "--ignore-state",
        default="",
        metavar="KEY[,KEY]",
        help="state keys not to compare (kept under torch's names with another meaning); "
        "parameters are compared regardless",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--progress",
        action="store_true",
        help="report progress on stderr even when it is not a terminal",
    )
    # SUPPRESS: ``optverify --debug check ...`` keeps working (no default overrides it)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="tracebacks")
    p.set_defaults(func=run_check)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text}")
    return value


# ---------------------------------------------------------------------------------------------
# loading the target, --against, --set, --dtype


@dataclass(frozen=True)
class LoadedTarget:
    """The class under test and how it was imported (the repro snippet imports it the same way).

    ``kind`` is ``"file"`` (``path`` is the absolute file, loaded as module ``module``) or
    ``"module"`` (``module`` is the dotted module name); ``attr`` is the class's name inside
    the module (dotted for a nested class); ``sys_path`` the directories put in front of
    ``sys.path`` for the import.
    """

    cls: type
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


def _one_line(error: BaseException) -> str:
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
        raise CheckError(f"cannot import {shown}: {_one_line(error)}") from error
    return module, name


def load_target(text: str) -> LoadedTarget:
    """Import ``path/to/file.py:ClassName`` or ``package.module:ClassName``.

    Raises :class:`CheckError` (one line) when the file is missing, the import fails, the
    class is missing, or it is not a ``torch.optim.Optimizer`` subclass.
    """
    from torch.optim import Optimizer

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
            raise CheckError(f"cannot import {where}: {_one_line(error)}") from error
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
    if not (isinstance(obj, type) and issubclass(obj, Optimizer)):
        what = (
            "another class" if isinstance(obj, type) else f"an object of type {type(obj).__name__}"
        )
        raise CheckError(
            f"{where}:{attr} is not a torch.optim.Optimizer subclass (it is {what}); "
            "see examples/functional_wrapper.py to wrap a functional optimiser"
        )
    return LoadedTarget(obj, text, kind, module_name, attr, file_path, sys_path)


def resolve_against(name: str) -> Spec:
    """The spec for ``Adam``, ``torch.optim.Adam`` (or another dotted path to a torch class)."""
    from properties.conformance import resolve_spec
    from properties.specs import SPECS

    try:
        return resolve_spec(name)
    except KeyError:
        pass
    module_name, _, attr = name.rpartition(".")
    if module_name and all(p.isidentifier() for p in name.split(".")):
        with contextlib.suppress(Exception):
            obj = getattr(importlib.import_module(module_name), attr)
            for spec in SPECS.values():
                if spec.reference is obj:
                    return spec
    raise CheckError(f"unknown optimiser {name!r} for --against; valid: {', '.join(SPECS)}")


def parse_pins(items: Sequence[str]) -> dict[str, Any]:
    """``["lr=1e-3", "betas=(0.9, 0.99)"]`` -> values (Python literals; a bare word is a string)."""
    pins: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key.isidentifier() or not text:
            raise CheckError(f"--set {item!r}: expected KEY=VALUE, e.g. --set eps=1e-8")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            if not text.isidentifier():
                raise CheckError(
                    f"--set {item}: {text!r} is not a Python literal "
                    "(a number, True/False/None, a quoted string or a tuple)"
                ) from None
            value = text  # a bare word: --set adjust_lr_fn=original
        pins[key] = value
    return pins


def parse_dtypes(text: str | None, spec: Spec) -> tuple[torch.dtype, ...] | None:
    """``"float64,float32"`` -> dtypes (``None``: the default, float64 and float32)."""
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
    from properties.conformance import accepted_hyperparameters

    try:
        return accepted_hyperparameters(cls)
    except (TypeError, ValueError) as error:
        raise CheckError(f"cannot read {cls.__name__}'s constructor signature: {error}") from None


def _check_pins(pins: Mapping[str, Any], target: LoadedTarget, spec: Spec, device: str) -> None:
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
                f"--set {shown}: torch.optim.{spec.name} rejects it: {_one_line(error)}"
            ) from None


# ---------------------------------------------------------------------------------------------
# the state-layout probe


@dataclass
class Layout:
    """How the target's per-parameter state compares with torch's (from a short probe)."""

    target_keys: list[str] = field(default_factory=list)
    torch_keys: list[str] = field(default_factory=list)
    #: key -> "tensor" (target's number compared as a tensor) or "number"
    coerce: dict[str, str] = field(default_factory=dict)
    #: key -> why its values cannot be compared
    hidden: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.notes

    def as_json(self) -> dict[str, Any]:
        return {
            "same_as_torch": self.same,
            "target_keys": self.target_keys,
            "torch_keys": self.torch_keys,
            "compared_by_value": sorted(self.coerce),
            "not_compared": {
                **{k: "only torch keeps it" for k in self.torch_keys if k not in self.target_keys},
                **{
                    k: "only the target keeps it"
                    for k in self.target_keys
                    if k not in self.torch_keys
                },
                **self.hidden,
            },
            "notes": self.notes,
        }


def _describe_value(v: Any) -> str:
    import torch

    if isinstance(v, torch.Tensor):
        dtype = str(v.dtype).removeprefix("torch.")
        return f"a {tuple(v.shape)} {dtype} tensor" if v.dim() else f"a 0-d {dtype} tensor"
    return f"a Python {type(v).__name__}"


def _is_number(v: Any) -> bool:
    import numbers

    return isinstance(v, numbers.Number)


def _probe_problems(spec: Spec, target: type, pins: Mapping[str, Any], device: str) -> list[Any]:
    """Small fixed problems with flags off (defaults) and on (to see every state key)."""
    import torch

    from properties.harness import Problem

    accepted = _signature_names(target)
    ref_sig = inspect.signature(spec.reference).parameters

    def takes(name: str) -> bool:
        return name in ref_sig and (accepted is None or name in accepted)

    plain: dict[str, Any] = {"lr": 1e-2} if takes("lr") else {}
    flags_on = dict(plain)
    for name, param in ref_sig.items():
        if name not in MODE_FLAGS and param.default is False and takes(name):
            flags_on[name] = True
    for name, value in (("momentum", 0.9), ("dampening", 0.0), ("weight_decay", 1e-2)):
        if takes(name):
            flags_on[name] = value
    gen = torch.Generator().manual_seed(0)
    out = []
    for shapes in ([(3, 2), (4,)], [(3, 2)]):
        for hyper in (plain, flags_on):
            params = tuple(
                torch.randn(s, generator=gen, dtype=torch.float64).to(device) for s in shapes
            )
            grads = tuple(
                tuple(torch.randn(s, generator=gen, dtype=torch.float64).to(device) for s in shapes)
                for _ in range(3)
            )
            out.append(
                Problem(
                    params=params,
                    groups=(tuple(range(len(shapes))),),
                    hyper=({**hyper, **pins},),
                    grads=grads,
                )
            )
    return out


def probe_layout(
    target: type, spec: Spec, pins: Mapping[str, Any], device: str, watch: _Watch
) -> Layout:
    """Run a few fixed problems with the target and torch and compare their state layouts.

    Never raises for the target's sake: a probe the target fails is skipped (the property
    will report the failure with a minimal example).
    """
    import torch

    from properties.conformance import factory
    from properties.harness import run_problem

    layout = Layout()
    observed: dict[str, tuple[Any, Any]] = {}
    target_keys: dict[str, None] = {}
    torch_keys: dict[str, None] = {}
    no_state = 0
    probed = 0
    for problem in _probe_problems(spec, target, pins, device):
        try:
            reference = run_problem(factory(spec.reference), problem)
        except Exception:
            continue  # torch refuses this probe (e.g. Muon and 1-d parameters)
        try:
            with watch.around(problem, count=False):
                mine = run_problem(factory(target), problem)
        except Exception:
            continue
        probed += 1
        assert mine.optimizer is not None and reference.optimizer is not None
        for p, q in zip(mine.params, reference.params, strict=True):
            r_state = reference.optimizer.state.get(q, {})
            try:
                t_state = mine.optimizer.state.get(p, {})
            except Exception:
                t_state = None
            if not isinstance(t_state, Mapping):
                layout.notes.append("the target's optimizer.state is not a mapping")
                return layout
            if r_state and not t_state:
                no_state += 1
            target_keys.update(dict.fromkeys(map(str, t_state)))
            torch_keys.update(dict.fromkeys(map(str, r_state)))
            for key in r_state:
                if key in t_state and key not in observed:
                    observed[str(key)] = (t_state[key], r_state[key])
    if not probed:
        return layout
    layout.target_keys, layout.torch_keys = list(target_keys), list(torch_keys)
    for key, (mine_v, ref_v) in observed.items():
        if isinstance(mine_v, torch.Tensor) and isinstance(ref_v, torch.Tensor):
            if mine_v.shape != ref_v.shape:
                layout.hidden[key] = (
                    f"shape {tuple(mine_v.shape)} where torch has {tuple(ref_v.shape)}"
                )
            continue
        if _is_number(mine_v) and isinstance(ref_v, torch.Tensor) and ref_v.numel() == 1:
            layout.coerce[key] = "tensor"
        elif isinstance(mine_v, torch.Tensor) and mine_v.numel() == 1 and _is_number(ref_v):
            layout.coerce[key] = "number"
        elif (mine_v is None) != (ref_v is None) or (
            type(mine_v) is not type(ref_v) and not (_is_number(mine_v) and _is_number(ref_v))
        ):
            layout.hidden[key] = (
                f"{_describe_value(mine_v)} where torch has {_describe_value(ref_v)}"
            )
    for key in layout.coerce:
        t_v, r_v = observed[key]
        layout.notes.append(
            f"state[{key!r}] is {_describe_value(t_v)} where torch keeps {_describe_value(r_v)}: "
            "compared by value"
        )
    for key, why in layout.hidden.items():
        layout.notes.append(f"state[{key!r}] not compared: {why}")
    only_torch = [k for k in layout.torch_keys if k not in target_keys]
    only_target = [k for k in layout.target_keys if k not in torch_keys]
    if no_state and not layout.target_keys:
        layout.notes.append(
            "the target keeps no state under its parameters (optimizer.state[p]): state is "
            f"not compared ({', '.join(layout.torch_keys)}); parameters are, after every step"
        )
    else:
        if only_torch:
            layout.notes.append(f"state keys torch keeps and the target does not: {only_torch}")
        if only_target:
            layout.notes.append(f"state keys only the target keeps: {only_target}")
    return layout


def _lenient(cls: type, layout: Layout) -> type:
    """``cls`` seen through a state view that applies ``layout`` (coercions, hidden keys).

    Everything else (construction, ``step``, ``param_groups``, ``state_dict``) is the
    target's own: the wrapper only changes what the comparison reads.
    """
    import torch

    coerce, hidden = dict(layout.coerce), frozenset(layout.hidden)

    def convert(key: str, value: Any) -> Any:
        how = coerce.get(key)
        if how == "tensor" and _is_number(value):
            return torch.tensor(float(value), dtype=torch.float64)
        if how == "number" and isinstance(value, torch.Tensor) and value.numel() == 1:
            return float(value.item())
        return value

    class StateView(Mapping[Any, Any]):
        def __init__(self, state: Any) -> None:
            self._state = state

        def __getitem__(self, p: Any) -> dict[str, Any]:
            entry = self._state[p]
            if not isinstance(entry, Mapping):
                return {}
            return {k: convert(str(k), v) for k, v in entry.items() if str(k) not in hidden}

        def get(self, p: Any, default: Any = None) -> Any:
            try:
                return self[p] if p in self._state else default
            except Exception:
                return default

        def __iter__(self) -> Iterator[Any]:
            return iter(self._state)

        def __len__(self) -> int:
            return len(self._state)

    class Lenient:
        __signature__ = inspect.signature(cls)

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            object.__setattr__(self, "_inner", cls(*args, **kwargs))

        @property
        def state(self) -> StateView:
            return StateView(self._inner.state)

        def __getattr__(self, name: str) -> Any:
            return getattr(object.__getattribute__(self, "_inner"), name)

    Lenient.__name__, Lenient.__qualname__ = cls.__name__, cls.__qualname__
    Lenient.__module__ = cls.__module__
    return Lenient


# ---------------------------------------------------------------------------------------------
# the watchdog: per-example deadline, progress, the failures seen


class ExampleTimeout(BaseException):
    """An example ran past the deadline (a BaseException: the harness must not catch it)."""

    def __init__(self, seconds: float, step: int | None, where: str | None) -> None:
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds, self.step, self.where = seconds, step, where
        self.problem: Problem | None = None


class _ShrinkTimeUp(BaseException):
    """Shrinking ran past ``--shrink-time``: report the smallest counterexample so far."""


class _Watch:
    """Entered around every example (``assert_conforms(around_example=...)``)."""

    def __init__(
        self,
        *,
        budget: int,
        timeout: float,
        shrink_time: float,
        show_progress: bool,
        target_file: str | None,
    ) -> None:
        self.budget, self.timeout, self.shrink_time = budget, timeout, shrink_time
        self.show_progress, self.target_file = show_progress, target_file
        self.tty = sys.stderr.isatty()
        self.examples = 0
        self.shrink_runs = 0
        self.keys_seen: set[str] = set()
        self.current: Problem | None = None
        self.first_failure_at: float | None = None
        self.found_after: int | None = None
        self.last_failure: NonConformance | None = None
        self.started = time.monotonic()
        self._last_shown = 0.0
        self._armed = False
        self._previous: Any = None
        self.deadline_note: str | None = None
        self._can_alarm = (
            timeout > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        if timeout > 0 and not self._can_alarm:
            self.deadline_note = "no per-example deadline here (needs the main thread on POSIX)"

    # -- signal handling
    def __enter__(self) -> _Watch:
        if self._can_alarm:
            self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._can_alarm:
            self._disarm()
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
        self._clear_progress()

    def _disarm(self) -> None:
        self._armed = False
        signal.setitimer(signal.ITIMER_REAL, 0.0)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if not self._armed:
            return
        step, where = self._locate(frame)
        raise ExampleTimeout(self.timeout, step, where)

    def _locate(self, frame: FrameType | None) -> tuple[int | None, str | None]:
        """The lock-step loop's step and the innermost frame outside torch and optverify."""
        import torch

        library = (str(Path(torch.__file__).parent), str(Path(__file__).resolve().parents[1]))
        step: int | None = None
        where: str | None = None
        f = frame
        while f is not None:
            filename = f.f_code.co_filename
            if (
                where is None
                and (filename == self.target_file or not filename.startswith(library))
                and "hypothesis" not in filename
            ):
                where = f"{Path(filename).name}:{f.f_lineno} in {f.f_code.co_name}"
            if f.f_code.co_name in ("run_lockstep", "run_problem") and "k" in f.f_locals:
                step = int(f.f_locals["k"])
                break
            f = f.f_back
        return step, where

    # -- the hook
    @contextlib.contextmanager
    def around(self, problem: Problem, *, count: bool = True) -> Iterator[None]:
        """Deadline and progress for one example; records a :class:`NonConformance`."""
        from properties.conformance import NonConformance

        if count:
            self.examples += 1
            if self.first_failure_at is not None:
                self.shrink_runs += 1
                if time.monotonic() - self.first_failure_at > self.shrink_time:
                    raise _ShrinkTimeUp()
            for hyper in problem.hyper:
                self.keys_seen.update(hyper)
            self._progress()
        self.current = problem
        if self._can_alarm:
            self._armed = True
            signal.setitimer(signal.ITIMER_REAL, self.timeout, min(self.timeout, 1.0))
        try:
            yield
        except NonConformance as failure:
            if self._can_alarm:
                self._disarm()
            if count:
                if self.first_failure_at is None:
                    self.first_failure_at = time.monotonic()
                    self.found_after = self.examples
                self.last_failure = failure
            raise
        except ExampleTimeout as hung:
            if self._can_alarm:
                self._disarm()
            hung.problem = problem
            raise
        finally:
            if self._can_alarm:
                self._disarm()

    # -- progress on stderr
    def _progress(self) -> None:
        if not self.show_progress:
            return
        now = time.monotonic()
        if now - self._last_shown < (0.2 if self.tty else 2.0):
            return
        self._last_shown = now
        elapsed = now - self.started
        if self.first_failure_at is None:
            text = f"{_PROG}: {self.examples}/{self.budget} examples, {elapsed:.0f} s"
        else:
            text = (
                f"{_PROG}: mismatch found after {self.found_after} examples; shrinking "
                f"({self.shrink_runs} runs, {now - self.first_failure_at:.0f} s)"
            )
        if self.tty:
            sys.stderr.write("\r\x1b[K" + text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _clear_progress(self) -> None:
        if self.show_progress and self.tty and self._last_shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


# ---------------------------------------------------------------------------------------------
# the outcome


@dataclass
class Outcome:
    """What one ``check`` run found."""

    target: LoadedTarget
    spec: Spec
    pins: dict[str, Any]
    seed: int
    device: str
    dtypes: tuple[str, ...]
    layout: Layout
    seconds: float
    examples: int
    varied: list[str]
    not_varied: list[str]
    modes: tuple[str, ...]
    summary: Summary | None = None
    problem: Problem | None = None
    divergence: Divergence | None = None
    mode: str | None = None
    hung: ExampleTimeout | None = None
    found_after: int | None = None
    shrink_runs: int = 0
    notes: list[str] = field(default_factory=list)
    #: options beyond target, --against, --seed and --set that the rerun command repeats
    options: list[str] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        return self.problem is None


def _warning_notes(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """Warnings raised while checking (the target's, mostly), one note per distinct message."""
    counts: dict[str, int] = {}
    for w in caught:
        if f"{os.sep}hypothesis{os.sep}" in w.filename:
            continue  # Hypothesis's own notes, not the target's
        lines = str(w.message).strip().splitlines()
        where = f"{Path(w.filename).name}:{w.lineno}"
        text = f"{w.category.__name__}: {lines[0] if lines else ''} ({where})"
        counts[text] = counts.get(text, 0) + 1
    return [f"warning, {n} time(s): {text}" for text, n in list(counts.items())[:5]]


def _find_nonconformance(error: BaseException) -> NonConformance | None:
    from properties.conformance import NonConformance

    if isinstance(error, NonConformance):
        return error
    for inner in getattr(error, "exceptions", ()) or ():
        found = _find_nonconformance(inner)
        if found is not None:
            return found
    return None


def execute(args: argparse.Namespace) -> Outcome:
    """Validate the arguments, load the target, probe the layout and run the property."""
    import torch

    from properties.conformance import NonConformance, assert_conforms

    spec = resolve_against(args.against)
    pins = parse_pins(args.pins)
    dtypes = parse_dtypes(args.dtype, spec)
    if args.device == "cuda" and not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "none is visible"
        raise CheckError(f"--device cuda: no CUDA device is available ({why}); use --device cpu")
    target = load_target(args.target)
    _check_pins(pins, target, spec, args.device)
    seed = args.seed if args.seed is not None else random.getrandbits(32)
    accepted = _signature_names(target.cls)
    reference_names = (_signature_names(spec.reference) or set()) - MODE_FLAGS
    not_varied = sorted(reference_names - accepted) if accepted is not None else []
    shown_dtypes = tuple(str(d).removeprefix("torch.") for d in (dtypes or ())) or (
        "float64", "float32",
    )  # fmt: skip
    watch = _Watch(
        budget=args.max_examples,
        timeout=args.timeout,
        shrink_time=args.shrink_time,
        show_progress=args.progress or sys.stderr.isatty(),
        target_file=target.source_file,
    )
    start = time.perf_counter()
    outcome = Outcome(
        target, spec, pins, seed, args.device, shown_dtypes, Layout(), 0.0, 0, [], not_varied,
        spec.modes,
    )  # fmt: skip
    for flag, value, default in (
        ("--max-examples", args.max_examples, 100), ("--device", args.device, "cpu"),
        ("--dtype", args.dtype, None), ("--ignore-state", args.ignore_state, ""),
    ):  # fmt: skip
        if value != default:
            outcome.options += [flag, str(value)]
    if args.no_validation:
        outcome.options.append("--no-validation")
    if watch.deadline_note:
        outcome.notes.append(watch.deadline_note)
    with watch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            layout = probe_layout(target.cls, spec, pins, args.device, watch)
            for key in filter(None, (k.strip() for k in args.ignore_state.split(","))):
                layout.hidden[key] = "--ignore-state"
                layout.notes.append(f"state[{key!r}] not compared: --ignore-state")
            outcome.layout = layout
            cls = _lenient(target.cls, layout) if (layout.coerce or layout.hidden) else target.cls
            outcome.summary = assert_conforms(
                cls, spec.name, max_examples=args.max_examples, seed=seed, device=args.device,
                dtypes=dtypes, tolerance="faithful", shrink=not args.no_shrink,
                validation=not args.no_validation, around_example=watch.around, **pins,
            )  # fmt: skip
        except NonConformance as failure:
            outcome.problem, outcome.divergence = failure.problem, failure.divergence
            outcome.mode = failure.mode
        except _ShrinkTimeUp:
            last = watch.last_failure
            assert last is not None
            outcome.problem, outcome.divergence, outcome.mode = (
                last.problem, last.divergence, last.mode,
            )  # fmt: skip
            outcome.notes.append(
                f"shrinking stopped after --shrink-time {args.shrink_time:g} s: the smallest "
                "counterexample found so far"
            )
        except ExampleTimeout as hung:
            outcome.hung = hung
            outcome.problem = hung.problem or watch.current
        except Exception as error:
            seen = _find_nonconformance(error) or watch.last_failure
            if seen is None:
                raise
            outcome.problem, outcome.divergence, outcome.mode = (
                seen.problem, seen.divergence, seen.mode,
            )  # fmt: skip
            outcome.notes.append(
                f"the failure did not reproduce on a rerun ({type(error).__name__}): the target "
                "is not deterministic; reported is the first failing example"
            )
    outcome.seconds = time.perf_counter() - start
    outcome.notes += _warning_notes(caught)
    outcome.examples = outcome.summary.examples if outcome.summary else watch.examples
    outcome.found_after = watch.found_after
    outcome.shrink_runs = watch.shrink_runs
    varied = set(outcome.summary.varied) if outcome.summary else watch.keys_seen
    outcome.varied = sorted(set(varied) - set(pins))
    return outcome


# ---------------------------------------------------------------------------------------------
# rendering


def _reference_call(spec: Spec, mode: str | None) -> str:
    from properties.conformance import mode_kwargs

    kwargs = mode_kwargs(spec, mode) if mode else {}
    return f"torch.optim.{spec.name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def _rerun_command(o: Outcome) -> str:
    parts = ["optverify", "check", o.target.text, "--against", o.spec.name, "--seed", str(o.seed)]
    from properties.conformance import value_code

    for key, value in o.pins.items():
        parts += ["--set", f"{key}={value_code(value)}"]
    parts += o.options
    return " ".join(_shell_quote(p) for p in parts)


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _case(problem: Problem) -> str:
    from properties.conformance import hyper_code

    groups = "; ".join(hyper_code(h) for h in problem.hyper)
    schedule = "".join(
        f"; before step {k + 1} set {', '.join(hyper_code(c) for c in changes)}"
        for k, changes in problem.schedule.items()
    )
    return f"{groups}{schedule}; {problem.describe()}"


def divergence_line(d: Divergence) -> str:
    """``step 2, param 0, state['exp_avg']: values differ (max abs err ..., max rel err ...)``."""
    where = "constructor" if d.step < 0 else f"step {d.step + 1}"
    if d.param is not None:
        where += f", param {d.param}"
    if d.key is not None:
        where += f", state[{d.key!r}]"
    what = d.detail
    if d.what == "grad modified":
        what = "step() changed p.grad"
    elif d.what not in ("param", "state", "constructor", "exception"):
        what = f"{d.what}: {d.detail}"
    if not math.isnan(d.max_abs):
        what += f" (max abs err {d.max_abs:.3g}, max rel err {d.max_rel:.3g})"
    return f"{where}: {what}"


def headline(o: Outcome) -> str:
    """The one-line verdict (what stderr gets for a mismatch): the difference and the case."""
    if o.conforms:
        return (
            f"{o.target.name} conforms to torch.optim.{o.spec.name}: {o.examples} examples, "
            f"varied {', '.join(o.varied) or 'nothing'}"
        )
    assert o.problem is not None
    return f"MISMATCH: {_verdict_line(o)}; case: {_case(o.problem)}"


def _verdict_line(o: Outcome) -> str:
    if o.hung is not None:
        where = "the constructor" if o.hung.step is None else f"step {o.hung.step + 1}"
        at = f" (at {o.hung.where})" if o.hung.where else ""
        return f"{o.target.name} hangs: {where} did not finish within {o.hung.seconds:g} s{at}"
    assert o.divergence is not None
    ref = _reference_call(o.spec, o.mode)
    return f"{o.target.name} vs {ref}: {divergence_line(o.divergence)}"


def _nonfinite_note(a: Any, b: Any) -> str | None:
    import torch

    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return None
    na = int((~torch.isfinite(a.detach().cpu())).sum())
    nb = int((~torch.isfinite(b.detach().cpu())).sum())
    if na == nb:
        return None
    return f"the target has {na} non-finite value(s) (nan/inf) where torch has {nb}"


def _side_by_side(a: Any, b: Any, limit: int = 12) -> list[str]:
    import torch

    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return [f"    target: {a!r}", f"    torch:  {b!r}"]
    fa = a.detach().cpu().reshape(-1)
    fb = b.detach().cpu().reshape(-1)
    if fa.is_complex() or fb.is_complex():
        fa, fb = (
            torch.view_as_real(fa.to(torch.complex128)),
            torch.view_as_real(fb.to(torch.complex128)),
        )
        fa, fb = fa.reshape(-1), fb.reshape(-1)
    n = max(fa.numel(), fb.numel())
    shape = f"shape {tuple(a.shape)}" + (f" vs {tuple(b.shape)}" if a.shape != b.shape else "")
    lines = [
        f"    values ({shape}, {str(b.dtype).removeprefix('torch.')}"
        f"{'' if n <= limit else f'; first {limit} of {n}'}):",
        f"    {'index':>7}  {'target':>24}  {'torch':>24}  {'abs err':>10}",
    ]
    for i in range(min(n, limit)):
        x = float(fa[i]) if i < fa.numel() else math.nan
        y = float(fb[i]) if i < fb.numel() else math.nan
        err = abs(x - y) if math.isfinite(x) and math.isfinite(y) else math.inf
        if x == y or (math.isnan(x) and math.isnan(y)):
            err = 0.0
        mark = "  <" if err > 0 else ""
        lines.append(f"    {i:>7}  {x!r:>24}  {y!r:>24}  {err:>10.3g}{mark}")
    return lines


def render_text(o: Outcome, snippet: str | None) -> str:
    """The human report."""
    from properties.conformance import hyper_code, value_code

    lines: list[str] = []
    pinned = ", ".join(f"{k}={value_code(v)}" for k, v in o.pins.items()) or "nothing"
    if o.conforms:
        assert o.summary is not None
        lines += [
            f"conforms: {o.target.name} behaves like torch.optim.{o.spec.name} "
            f"({', '.join(o.summary.modes)}) on {o.device}",
            f"  examples: {o.examples} (dtypes {', '.join(o.dtypes)}), seed {o.seed}, "
            f"{o.seconds:.1f} s",
            *(
                [
                    f"  edges:    {o.summary.edge_cases} edge values of the hyperparameters "
                    "(negative, ±0, 1, 2, nan, ±inf), one at a time"
                ]
                if o.summary.edge_cases
                else []
            ),
            f"  varied:   {', '.join(o.varied) or 'nothing'}",
            f"  pinned:   {pinned}",
        ]
    else:
        assert o.problem is not None
        p = o.problem
        lines.append(f"MISMATCH: {_verdict_line(o)}")
        dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in p.params})
        lines.append(f"  problem:  {p.describe()}")
        lines.append(f"  dtype {', '.join(dtypes)}, device {o.device}")
        for j, h in enumerate(p.hyper):
            lines.append(f"  group {j}:  {hyper_code(h)} (params {list(p.groups[j])})")
        for k, changes in p.schedule.items():
            lines.append(f"  before step {k + 1}: set {', '.join(hyper_code(c) for c in changes)}")
        if o.divergence is not None:
            d = o.divergence
            note = _nonfinite_note(d.target_value, d.reference_value)
            if note:
                lines.append(f"  note:     {note}")
            if isinstance(d.target_value, BaseException) or isinstance(
                d.reference_value, BaseException
            ):
                t_err, r_err = d.target_value, d.reference_value
                lines.append(f"    target: {_one_line(t_err) if t_err else 'no exception'}")
                lines.append(f"    torch:  {_one_line(r_err) if r_err else 'no exception'}")
            elif d.target_value is not None or d.reference_value is not None:
                lines += _side_by_side(d.target_value, d.reference_value)
        found = (
            f"found after {o.found_after} examples" if o.found_after else "found"
        ) + f", seed {o.seed}, {o.seconds:.1f} s"
        if o.shrink_runs:
            found += f"; shrunk in {o.shrink_runs} runs"
        lines.append(f"  {found}")
        lines.append(f"  varied:   {', '.join(o.varied) or 'nothing'}; pinned: {pinned}")
        lines.append(f"  rerun:    {_rerun_command(o)}")
    if o.not_varied:
        lines.append(
            f"  not varied ({o.target.name} does not take them; torch keeps its defaults): "
            + ", ".join(o.not_varied)
        )
    for note in o.layout.notes:
        lines.append(f"  state layout: {note}")
    for note in o.notes:
        lines.append(f"  note: {note}")
    if snippet is not None:
        lines += [
            "",
            "Reproduce it without optverify (needs torch and the target's own imports): save",
            "the lines between the markers as repro.py and run `python repro.py`.",
            "# ---- 8< ----",
            snippet.rstrip(),
            "# ---- 8< ----",
        ]
    return "\n".join(lines)


def _jsonable(v: Any) -> Any:
    import torch

    if isinstance(v, torch.Tensor):
        return _jsonable(v.detach().cpu().tolist())
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, complex):
        return [_jsonable(v.real), _jsonable(v.imag)]
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, BaseException):
        return _one_line(v)
    return repr(v)


def render_json(o: Outcome, snippet: str | None) -> dict[str, Any]:
    """The machine-readable report (one JSON object)."""
    from properties.conformance import hyper_code

    out: dict[str, Any] = {
        "verdict": "conforms" if o.conforms else "mismatch",
        "target": o.target.text,
        "class": o.target.name,
        "against": f"torch.optim.{o.spec.name}",
        "modes": list(o.modes),
        "device": o.device,
        "dtypes": list(o.dtypes),
        "seed": o.seed,
        "examples": o.examples,
        "edge_cases": o.summary.edge_cases if o.summary else None,
        "seconds": round(o.seconds, 3),
        "varied": o.varied,
        "pinned": _jsonable(o.pins),
        "not_varied": o.not_varied,
        "state_layout": o.layout.as_json(),
        "notes": o.notes,
        "counterexample": None,
        "repro": snippet,
        "summary": headline(o),
    }
    if o.problem is not None:
        p = o.problem
        ce: dict[str, Any] = {
            "reference": _reference_call(o.spec, o.mode),
            "mode": o.mode,
            "found_after": o.found_after,
            "shrink_runs": o.shrink_runs,
            "params": [
                {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
                for t in p.params
            ],
            "device": o.device,
            "groups": [list(g) for g in p.groups],
            "hyperparameters": [_jsonable(h) for h in p.hyper],
            "hyperparameters_code": [hyper_code(h) for h in p.hyper],
            "schedule": {str(k + 1): [hyper_code(c) for c in v] for k, v in p.schedule.items()},
            "steps": p.n_steps,
            "reload_before_step": None if p.reload_at is None else p.reload_at + 1,
            "problem": p.describe(),
            "rerun": _rerun_command(o),
        }
        if o.hung is not None:
            ce.update(
                what="timeout",
                step=None if o.hung.step is None else o.hung.step + 1,
                detail=f"did not finish within {o.hung.seconds:g} s",
                hung_at=o.hung.where,
            )
        elif o.divergence is not None:
            d = o.divergence
            ce.update(
                what=d.what,
                step=None if d.step < 0 else d.step + 1,
                param=d.param,
                state_key=d.key,
                detail=d.detail,
                max_abs_err=_jsonable(d.max_abs),
                max_rel_err=_jsonable(d.max_rel),
                target_value=_jsonable(d.target_value),
                torch_value=_jsonable(d.reference_value),
            )
        out["counterexample"] = ce
    return out


# ---------------------------------------------------------------------------------------------
# the reproducing snippet

_SNIPPET_BODY = '''

def clone(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, tuple):
        return tuple(clone(v) for v in value)
    return value


def build(cls, params, extra):
    """cls(param_groups, **first group's hyperparameters, **extra), as optverify does."""
    groups = []
    for j, (members, hyper) in enumerate(zip(GROUPS, HYPER)):
        ps = [(f"g{j}.p{i}", params[i]) if NAMED else params[i] for i in members]
        groups.append({"params": ps, **{k: clone(v) for k, v in hyper.items()}})
    first = {k: v for k, v in groups[0].items() if k != "params"}
    return cls(groups, **{**first, **extra})


def as_tensor(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    return torch.tensor(value, dtype=torch.float64)  # e.g. a step counter kept as a number


def compare(a, b, before=None):
    """(agree, max abs err, max rel err) of the target's value a and torch's value b;
    before: torch's value before the step (an update that cancels to nearly zero carries
    rounding errors of the size of the value it started from)."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return False, nan, nan
        results = [compare(x, y) for x, y in zip(a, b)]
        return all(r[0] for r in results), max([0.0] + [r[1] for r in results]), max(
            [0.0] + [r[2] for r in results]
        )
    if a is None or b is None:
        return a is None and b is None, nan, nan
    try:
        a, b = as_tensor(a), as_tensor(b)
    except (TypeError, ValueError, RuntimeError):
        return a == b, nan, nan
    if a.is_sparse or b.is_sparse:
        a, b = a.to_dense(), b.to_dense()
    if a.shape != b.shape:
        if a.numel() != 1 or b.numel() != 1:
            return False, nan, nan
        a, b = a.reshape(()), b.reshape(())
    rtol, atol = TOL.get(b.real.dtype if b.is_complex() else b.dtype, (0.0, 0.0))
    a = a.to(b.dtype)
    if b.is_complex():
        a, b = torch.view_as_real(a), torch.view_as_real(b)
    a, b = a.to(torch.float64), b.to(torch.float64)
    special_a, special_b = ~torch.isfinite(a), ~torch.isfinite(b)
    finite = ~(special_a | special_b)
    diff = (a - b).abs()[finite]
    magnitude = torch.maximum(a.abs(), b.abs())
    if isinstance(before, torch.Tensor) and not before.is_sparse:
        before = torch.view_as_real(before) if before.is_complex() else before
        if before.shape == a.shape:
            before = before.detach().cpu().to(torch.float64).abs()
            magnitude = torch.maximum(magnitude, torch.nan_to_num(before, nan=0.0, posinf=0.0))
    scale = magnitude[finite]
    agree = torch.equal(special_a, special_b) and bool((diff <= atol + rtol * scale).all())
    max_abs = float(diff.max()) if diff.numel() else 0.0
    rel = diff / scale.clamp_min(2.2e-308)
    max_rel = float(rel[diff > 0].max()) if bool((diff > 0).any()) else 0.0
    if not torch.equal(special_a, special_b):
        max_abs = max_rel = inf
    return agree, max_abs, max_rel


def show(a, b, limit=12):
    """The two values side by side."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        print(f"  target: {a!r}")
        print(f"  torch:  {b!r}")
        return
    fa, fb = a.detach().cpu().reshape(-1), b.detach().cpu().reshape(-1)
    if fa.is_complex() or fb.is_complex():
        fa = torch.view_as_real(fa.to(torch.complex128)).reshape(-1)
        fb = torch.view_as_real(fb.to(torch.complex128)).reshape(-1)
    na, nb = int((~torch.isfinite(fa)).sum()), int((~torch.isfinite(fb)).sum())
    if na != nb:
        print(f"  the target has {na} non-finite value(s) where torch has {nb}")
    print(f"  {'index':>7}  {'target':>24}  {'torch':>24}")
    for i in range(min(max(fa.numel(), fb.numel()), limit)):
        x = float(fa[i]) if i < fa.numel() else nan
        y = float(fb[i]) if i < fb.numel() else nan
        print(f"  {i:>7}  {x!r:>24}  {y!r:>24}" + ("" if x == y else "  <"))


def mismatch(text, a=None, b=None):
    print(f"MISMATCH: {text}")
    if a is not None or b is not None:
        show(a, b)
    raise SystemExit(f"MISMATCH: {text}")


def exceptions(where, errors):
    """Both raised the same exception type: they agree (stop); otherwise a mismatch."""
    t, r = errors.get("target"), errors.get("torch")
    if t is not None and r is not None and type(t) is type(r):
        print(f"{where}: both raised {type(t).__name__}: they agree here")
        raise SystemExit(0)
    describe = lambda e: "no exception" if e is None else f"{type(e).__name__}: {e}"  # noqa: E731
    mismatch(f"{where}: target {describe(t)} | torch {describe(r)}")


def main():
    sides = {"target": (Target, {}), "torch": (Reference, REFERENCE_KWARGS)}
    params, opts, errors = {}, {}, {}
    for name, (cls, extra) in sides.items():
        params[name] = [p.detach().clone().requires_grad_(True) for p in PARAMS]
        try:
            opts[name] = build(cls, params[name], extra)
        except Exception as error:
            errors[name] = error
    if errors:
        exceptions("constructor", errors)
    for k in range(STEPS):
        if k == RELOAD_AT:  # a checkpoint: a fresh optimiser loads a copy of the state_dict
            for name, (cls, extra) in sides.items():
                try:
                    saved = copy.deepcopy(opts[name].state_dict())
                    opts[name] = build(cls, params[name], extra)
                    opts[name].load_state_dict(saved)
                except Exception as error:
                    errors[name] = error
            if errors:
                exceptions(f"reload before step {k + 1}", errors)
        for name in sides:
            for group, change in zip(opts[name].param_groups, SCHEDULE.get(k, ())):
                group.update({key: clone(v) for key, v in change.items()})
        grads = GRADS[k % len(GRADS)]
        before = [  # torch's parameters and tensor state before the step (the tolerance's scale)
            (p.detach().clone(), {key: v.detach().clone() for key, v in
                                  opts["torch"].state.get(p, {}).items() if torch.is_tensor(v)})
            for p in params["torch"]
        ]
        for name in sides:
            for p, g in zip(params[name], grads):
                p.grad = None if g is None else g.clone()
            try:
                opts[name].step()
            except Exception as error:
                errors[name] = error
        if errors:
            exceptions(f"step {k + 1}", errors)
        for i, (mine, theirs) in enumerate(zip(params["target"], params["torch"])):
            g = grads[i]
            if g is not None and (mine.grad is None or not torch.equal(
                torch.nan_to_num(mine.grad), torch.nan_to_num(g)
            )):
                mismatch(f"step {k + 1}, param {i}: step() changed p.grad")
            ok, max_abs, max_rel = compare(mine, theirs, before[i][0])
            if not ok:
                mismatch(
                    f"step {k + 1}, param {i}: values differ "
                    f"(max abs err {max_abs:.3g}, max rel err {max_rel:.3g})",
                    mine, theirs,
                )
            t_state = opts["target"].state.get(mine, {})
            r_state = opts["torch"].state.get(theirs, {})
            for key in r_state:
                if key not in t_state or key in NOT_COMPARED:
                    continue
                ok, max_abs, max_rel = compare(t_state[key], r_state[key], before[i][1].get(key))
                if not ok:
                    mismatch(
                        f"step {k + 1}, param {i}, state[{key!r}]: values differ "
                        f"(max abs err {max_abs:.3g}, max rel err {max_rel:.3g})",
                        t_state[key], r_state[key],
                    )
    print(f"no mismatch: the target and torch agree on all {STEPS} step(s)")


if __name__ == "__main__":
    main()
'''


def _import_lines(target: LoadedTarget) -> list[str]:
    chain = "".join(f".{part}" for part in target.attr.split("."))
    lines = ["# The target, imported the way `optverify check` imported it."]
    if target.sys_path:
        lines.append(f"sys.path[:0] = {list(target.sys_path)!r}")
    if target.kind == "file":
        lines += [
            f"_spec = importlib.util.spec_from_file_location({target.module!r}, {target.path!r})",
            "_module = importlib.util.module_from_spec(_spec)",
            "sys.modules[_spec.name] = _module",
            "_spec.loader.exec_module(_module)",
            f"Target = _module{chain}",
        ]
    else:
        lines.append(f"Target = importlib.import_module({target.module!r}){chain}")
    return lines


def repro_snippet(
    target: LoadedTarget,
    spec: Spec,
    problem: Problem,
    mode: str | None,
    *,
    title: str,
    not_compared: Sequence[str] = (),
    seed: int | None = None,
) -> str:
    """A self-contained script (torch only) that replays ``problem`` on the target and torch.

    It builds every tensor explicitly, runs both optimisers in lock step, compares
    parameters and shared state keys after each step with optverify's faithful tolerance,
    prints the first difference side by side and exits with status 1 (``MISMATCH: ...`` on
    stderr); status 0 when they agree (the bug is fixed).
    """
    from properties.conformance import hyper_code, mode_kwargs, tensor_code
    from properties.tolerances import FAITHFUL

    tol = ", ".join(f"{dtype!s}: ({t.rtol!r}, {t.atol!r})" for dtype, t in FAITHFUL.items())
    how = f" --seed {seed}" if seed is not None else ""
    lines = [
        f'"""Reproduces `optverify check {target.text} --against {spec.name}{how}`:',
        "",
        f"{title}",
        "",
        "Self-contained: needs torch (and whatever the target imports), not optverify.",
        'Exit status 1 and "MISMATCH: ..." while the difference is there; 0 once it is gone.',
        '"""',
        "import copy",
        "import importlib",
        "import importlib.util",
        "import sys",
        "from math import inf, nan",
        "",
        "import torch",
        "",
        *_import_lines(target),
        f"Reference = torch.optim.{spec.name}",
        f"REFERENCE_KWARGS = {mode_kwargs(spec, mode) if mode else {}!r}"
        "  # which torch implementation",
        "",
        "# The counterexample. PARAMS: initial parameters; GROUPS: parameter indices of each",
        "# param group; HYPER: each group's hyperparameters; GRADS[k][i]: the gradient of",
        "# parameter i before step k (None: no gradient; the stream repeats when STEPS is",
        "# longer); SCHEDULE[k]: per-group changes applied before step k; RELOAD_AT: before",
        "# that step each optimiser is rebuilt from a copy of its state_dict().",
        "PARAMS = [",
        *(f"    {tensor_code(p)}," for p in problem.params),
        "]",
        f"GROUPS = {[list(g) for g in problem.groups]!r}",
        "HYPER = [",
        *(f"    {hyper_code(h)}," for h in problem.hyper),
        "]",
        "GRADS = [",
    ]
    for row in problem.grads:
        cells = ", ".join("None" if g is None else tensor_code(g) for g in row)
        lines.append(f"    [{cells}],")
    lines.append("]")
    schedule = ", ".join(
        f"{k}: [{', '.join(hyper_code(c) for c in changes)}]"
        for k, changes in problem.schedule.items()
    )
    lines += [
        f"SCHEDULE = {{{schedule}}}",
        f"STEPS = {problem.n_steps}",
        f"RELOAD_AT = {problem.reload_at!r}",
        f"NAMED = {problem.named!r}",
        f"NOT_COMPARED = {set(not_compared) or 'set()'}  # state keys kept in another layout",
        "# optverify's faithful tolerance, (rtol, atol) per dtype: an element agrees when both",
        "# are non-finite, or |target - torch| <= atol + rtol * max(|target|, |torch|)",
        f"TOL = {{{tol}}}",
    ]
    return "\n".join(lines) + _SNIPPET_BODY


# ---------------------------------------------------------------------------------------------
# the handler


def _fail_usage(error: BaseException, fmt: str, debug: bool) -> int:
    if debug:
        traceback.print_exception(error)
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    print(f"{_PROG}: {message}", file=sys.stderr)
    if fmt == "json":
        print(json.dumps({"verdict": "error", "error": message}))
    return EXIT_USAGE


def run_check(args: argparse.Namespace) -> int:
    """The ``check`` handler: 0 conforms, 1 mismatch, 2 usage or loading problem."""
    debug = bool(getattr(args, "debug", False))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    try:
        outcome = execute(args)
    except CheckError as error:
        return _fail_usage(error, args.format, debug)
    except KeyboardInterrupt:
        raise
    except Exception as error:
        if debug:
            traceback.print_exc()
        return _fail_usage(
            CheckError(f"could not complete the check: {_one_line(error)} (--debug for more)"),
            args.format,
            False,
        )
    snippet = None
    if not outcome.conforms:
        assert outcome.problem is not None
        not_compared = [*outcome.layout.hidden]
        snippet = repro_snippet(
            outcome.target, outcome.spec, outcome.problem, outcome.mode,
            title=f"MISMATCH: {_verdict_line(outcome)}"
            + (" (the script hangs there too)" if outcome.hung else ""),
            not_compared=not_compared, seed=outcome.seed,
        )  # fmt: skip
    if args.format == "json":
        print(json.dumps(render_json(outcome, snippet), indent=2))
    else:
        print(render_text(outcome, snippet))
    if outcome.conforms:
        return EXIT_CONFORMS
    print(f"{_PROG}: {headline(outcome)}", file=sys.stderr)
    return EXIT_MISMATCH
