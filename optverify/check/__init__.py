"""``optverify check``: does anyone's optimiser behave like ``torch.optim.X``?

::

    optverify check path/to/file.py:MyAdam --against Adam [--set eps=1e-8] [--max-examples N]
    optverify check package.module:make_adam --against torch.optim.Adam --init foo=1 --repro r.py

The command loads the target (an optimiser class, or a factory ``f(params, **hyper)``), then
runs :func:`optverify.properties.conformance.assert_conforms` — the same code path, with the
same defaults, as a pytest suite's call — with ``validation=True``: Hypothesis draws whole
problems over everything torch's class accepts (every dtype, shapes from 0-d and empty to
beyond a SIMD vector, non-contiguous parameters, the overflow band of g², inf/NaN and
``None`` gradients, param groups, hyperparameter changes between steps, checkpoints reloaded
mid-run, long runs, out-of-range hyperparameters) and judges each by the verdict model
(:mod:`optverify.properties.verdict`): the target's distance from the exact maths beside
torch's own implementations'.

Exit codes: 0 conforms (the examples run, what was varied, and findings reported without
failing: precision, non-finite hyperparameter, state layout); 1 a failing finding (its
class, the minimal counterexample, the errors in ulps, the likely cause, a rerun command and
a repro script); 2 a usage or loading problem (one line on stderr, no traceback unless
``--debug``); 130 interrupted (with how many examples passed).

Modules: :mod:`~optverify.check.loading` (target, ``--against``, ``--set``, ``--init``,
``--dtype``), :mod:`~optverify.check.watch` (deadline, progress), :mod:`~optverify.check.run`
(the outcome), :mod:`~optverify.check.render` (text, JSON), :mod:`~optverify.check.replay`
(the repro script and the function it calls).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from optverify.check.loading import (
    DTYPE_NAMES,
    CheckError,
    LoadedTarget,
    check_pins,
    load_target,
    one_line,
    parse_dtypes,
    parse_pins,
    precheck_target,
    resolve_against,
)
from optverify.check.render import divergence_line, headline, render_json, render_text
from optverify.check.run import Outcome, execute
from optverify.check.watch import ExampleTimeout

__all__ = [
    "DTYPE_NAMES",
    "CheckError",
    "ExampleTimeout",
    "LoadedTarget",
    "Outcome",
    "check_pins",
    "divergence_line",
    "execute",
    "headline",
    "load_target",
    "nonnegative_float",
    "parse_dtypes",
    "parse_pins",
    "positive_int",
    "register",
    "render_json",
    "render_outcome",
    "render_text",
    "resolve_against",
    "run_check",
]

EXIT_CONFORMS, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_PROG = "optverify check"


def register(subparsers: Any) -> None:
    """Add ``check`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "check",
        help="check anyone's optimiser against torch.optim (exit 0/1/2)",
        description=(
            "Property-based differential test of an optimiser against torch.optim, judged by "
            "its distance from the exact maths beside torch's own implementations: exit 0 "
            "conforms, 1 a failing finding (mismatch, overflow, non-finite kind, validation; "
            "minimal counterexample and a repro script), 2 usage or loading problem."
        ),
    )
    p.add_argument(
        "target",
        metavar="TARGET",
        help="path/to/file.py:Name or package.module:Name (a class or a factory "
        "f(params, **hyperparameters))",
    )
    p.add_argument(
        "--against",
        default=None,
        metavar="NAME",
        help="the torch optimiser: a name such as Adam, or torch.optim.Adam (default: from "
        "[tool.optverify] in pyproject.toml, or an adapter's counterpart)",
    )
    p.add_argument(
        "--set",
        dest="pins",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="pin a hyperparameter (VALUE is a Python literal; tuples allowed); repeatable",
    )
    p.add_argument(
        "--init",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a constructor argument for the target only (one torch does not take); repeatable",
    )
    p.add_argument(
        "--max-examples",
        type=positive_int,
        default=None,
        help="examples (default 100, or max-examples in [tool.optverify])",
    )
    p.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument(
        "--dtype",
        default=None,
        metavar="DTYPE[,DTYPE]",
        help=f"parameter dtypes to draw from ({', '.join(DTYPE_NAMES)}; default: every dtype "
        "torch's class takes)",
    )
    p.add_argument(
        "--timeout",
        type=nonnegative_float,
        default=60.0,
        metavar="SECONDS",
        help="per-example deadline; a step that runs longer is reported (0: none; default 60)",
    )
    p.add_argument(
        "--shrink-time",
        type=nonnegative_float,
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
    p.add_argument(
        "--contiguous",
        action="store_true",
        help="only contiguous parameters (non-contiguous ones are drawn by default)",
    )
    p.add_argument(
        "--no-sparse",
        action="store_true",
        help="leave out sparse gradients (drawn by default where torch's class takes them)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="also fail on differences that show only with NaN/inf hyperparameters",
    )
    p.add_argument(
        "--repro",
        type=Path,
        default=None,
        metavar="FILE",
        help="on a mismatch, write the repro script there (run it from this directory)",
    )
    p.add_argument(
        "--db",
        default=None,
        metavar="URL",
        help="example database whose stored failures run first: redis://HOST:PORT/N (read "
        "only, with the local .hypothesis/examples) or a directory",
    )
    p.add_argument(
        "--junitxml",
        default=None,
        type=Path,
        metavar="FILE",
        help="also write the verdict as JUnit XML (one testcase per dtype)",
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


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0: {text}")
    return value


# ---------------------------------------------------------------------------------------------
# the handler


def _ci_outputs(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """``--junitxml`` and, under GitHub Actions, ``::error`` annotations (on stderr)."""
    from optverify import ci_output

    if getattr(args, "junitxml", None) is not None:
        ci_output.write_junit(args.junitxml, report)
    ci_output.emit_github_annotations(report, stream=sys.stderr)


def _fail_usage(
    error: BaseException, fmt: str, debug: bool, args: argparse.Namespace | None = None
) -> int:
    if debug:
        traceback.print_exception(error)
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    print(f"{_PROG}: {message}", file=sys.stderr)
    if fmt == "json":
        print(json.dumps({"verdict": "error", "error": message}))
    if args is not None:
        _ci_outputs(args, {"verdict": "error", "error": message, "target": args.target})
    return EXIT_USAGE


def _check_paths(args: argparse.Namespace) -> None:
    """Arguments that need no torch: checked first, so bad input answers at once."""
    where, sep, attr = args.target.rpartition(":")
    if not sep or not where or not attr:
        raise CheckError(
            f"target {args.target!r}: expected path/to/file.py:Name or package.module:Name"
        )
    if where in ("optax", "keras"):
        return
    is_file = where.endswith(".py") or "/" in where or os.sep in where
    if is_file and not Path(where).expanduser().is_file():
        raise CheckError(f"file not found: {where}")
    precheck_target(args.target)  # a name the file does not bind
    if args.repro is not None and not args.repro.resolve().parent.is_dir():
        raise CheckError(f"--repro {args.repro}: no such directory {args.repro.parent}")


def render_outcome(outcome: Outcome) -> tuple[str | None, str, dict[str, Any]]:
    """The repro script (``None`` when it conforms), the text report and the JSON report."""
    from optverify.check.replay import repro_script

    snippet = None
    if outcome.problem is not None and outcome.problem.objective is None:
        snippet = repro_script(
            outcome.target.text, outcome.spec.name, outcome.problem,
            title=f"MISMATCH: {headline(outcome).removeprefix('MISMATCH: ')}"
            + (" (the script hangs there too)" if outcome.hung else ""),
            init=outcome.init, pins=outcome.pins, ignore_state=outcome.ignore_state,
            strict=outcome.strict, seed=outcome.seed,
        )  # fmt: skip
    return snippet, render_text(outcome, snippet), render_json(outcome, snippet)


def run_check(args: argparse.Namespace) -> int:
    """The ``check`` handler: 0 conforms, 1 mismatch, 2 usage or loading problem, 130
    interrupted."""
    debug = bool(getattr(args, "debug", False))
    from optverify.config import ConfigError

    try:
        _check_paths(args)
    except CheckError as error:
        return _fail_usage(error, args.format, debug, args)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    try:
        outcome = execute(args)
    except (CheckError, ConfigError) as error:
        return _fail_usage(error, args.format, debug, args)
    except KeyboardInterrupt:
        raise
    except Exception as error:
        if debug:
            traceback.print_exc()
        return _fail_usage(
            CheckError(f"could not complete the check: {one_line(error)} (--debug for more)"),
            args.format,
            False,
            args,
        )
    snippet, text, report = render_outcome(outcome)
    if snippet is not None and args.repro is not None:
        args.repro.write_text(snippet)
    _ci_outputs(args, report)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        print(text)
    if outcome.interrupted and outcome.problem is None:
        print(f"{_PROG}: {headline(outcome)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if outcome.conforms:
        return EXIT_CONFORMS
    print(f"{_PROG}: {headline(outcome)}", file=sys.stderr)
    if args.repro is not None:
        print(f"{_PROG}: repro script written to {args.repro}", file=sys.stderr)
    return EXIT_MISMATCH
