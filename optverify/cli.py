"""The ``optverify`` command: ``list``, ``verify``, ``check``, ``claims``, ``report``.

Exit codes: 0 success (or conformance), 1 a mismatch, 2 a usage or input error. Errors are
one line on stderr, never a traceback (``--debug`` shows it); so are the parser's own.
``optverify --version`` names the installed torch too; Ctrl-C says how many examples passed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

from optverify import __version__, hints, torch_compat

__all__ = ["build_parser", "main"]

VERIFY_COLUMNS = (
    "columns: optimiser, parameter dtype, verdict (conforms: bit for bit with torch's for-loop "
    "path and faithful to its other paths; MISMATCH; DRIFT: differs from a torch other than "
    "the one ours mirrors; skipped: this torch lacks it), examples run, torch implementations "
    "compared, seconds"
)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in ``--help``, except where the text already says it or there is none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default in ("", []):
            return text
        if default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """One-line errors with exit 2 (argparse's own print the usage block first)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = [c.strip().strip("'\"") for c in choice.group(2).split(",")]
            guess = hints.suggest(choice.group(1), options)
            if guess is not None:
                message += f"; did you mean {guess!r}?"
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _pin_threads() -> None:
    # One thread: on small machines torch's default OpenMP threads stall per parallel region.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _cmd_list(args: argparse.Namespace) -> int:
    from optverify.properties.specs import SPECS

    rows: list[dict[str, Any]] = [
        {
            "name": spec.name,
            "ours": f"{spec.ours.__module__}.{spec.ours.__name__}",
            "reference": f"torch.optim.{spec.name}",
            "modes": list(spec.modes),
            "flags": list(spec.flags),
            "complex": spec.supports_complex,
            "sparse": spec.supports_sparse,
        }
        for spec in SPECS.values()
    ]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  {r['reference']:<26} modes: {', '.join(r['modes']):<24} "
              f"flags: {', '.join(r['flags'])}")  # fmt: skip
    return 0


class _Progress:
    """``around_example`` for verify: counts passed examples (for Ctrl-C) and, with
    ``--progress``, writes ``NAME DTYPE: n/N examples, s`` to stderr."""

    def __init__(self, show: bool, budget: int) -> None:
        self.show, self.budget, self.tty = show, budget, sys.stderr.isatty()
        self.label, self.count, self.started, self.last = "", 0, 0.0, 0.0

    def start(self, label: str) -> None:
        self.label, self.count, self.started, self.last = label, 0, time.monotonic(), 0.0

    @contextlib.contextmanager
    def around(self, problem: Any) -> Iterator[None]:
        self.count += 1
        now = time.monotonic()
        if self.show and now - self.last >= (0.2 if self.tty else 2.0):
            self.last = now
            text = (f"optverify verify: {self.label}: {self.count}/{self.budget} examples, "
                    f"{now - self.started:.0f} s")  # fmt: skip
            sys.stderr.write(("\r\x1b[K" + text) if self.tty else text + "\n")
            sys.stderr.flush()
        yield
        hints.EXAMPLES.add()

    def clear(self) -> None:
        if self.show and self.tty and self.last:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _cmd_verify(args: argparse.Namespace) -> int:
    _pin_threads()
    import torch

    from optverify.properties.conformance import NonConformance, assert_conforms
    from optverify.properties.specs import SPECS

    names = args.names or list(SPECS)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        print(f"optverify verify: {hints.unknown_message('optimiser', unknown[0], SPECS)}",
              file=sys.stderr)  # fmt: skip
        return 2
    judged = torch_compat.installed_torch()
    drift_possible = not torch_compat.mirrors_installed_torch()
    if args.format == "text":
        print(f"optverify verify: our classes against torch {judged} (they mirror torch "
              f"{torch_compat.MIRRORED} bit for bit)")  # fmt: skip
        print(VERIFY_COLUMNS)
        print(f"{'NAME':<10} {'DTYPE':<8} {'VERDICT':<9} {'EXAMPLES':<14} {'MODES':<28} SECONDS")
    progress = _Progress(args.progress, args.max_examples)
    rows: list[dict[str, Any]] = []
    failed = False
    for name in names:
        spec = SPECS[name]
        missing = torch_compat.lacking(name)
        for dtype in (torch.float64, torch.float32):
            start = time.perf_counter()
            row: dict[str, Any] = {"name": name, "dtype": str(dtype).removeprefix("torch."),
                                   "torch": judged}  # fmt: skip
            progress.start(f"{name} {row['dtype']}")
            try:
                if missing is not None:
                    row.update(verdict="skipped", examples=None, modes=[], reason=missing)
                else:
                    with hints.quiet_own_warnings():
                        summary = assert_conforms(
                            spec.ours, name, max_examples=args.max_examples, seed=args.seed,
                            dtypes=[dtype], tolerance="exact", around_example=progress.around,
                        )  # fmt: skip
                    row.update(verdict="conforms", examples=summary.examples,
                               modes=list(summary.modes))  # fmt: skip
            except NonConformance as failure:
                progress.clear()
                if drift_possible:
                    row.update(verdict="DRIFT", reason=torch_compat.drift_reason(name, failure))
                else:
                    failed = True
                    row.update(verdict="MISMATCH")
                row.update(examples=None, modes=list(spec.modes), counterexample=str(failure))
            progress.clear()
            row["seconds"] = round(time.perf_counter() - start, 2)
            rows.append(row)
            if args.format == "text":
                _print_row(row)
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        total = sum(r["examples"] or 0 for r in rows)
        seconds = sum(r["seconds"] for r in rows)
        drifted = sorted({r["name"] for r in rows if r["verdict"] == "DRIFT"})
        verdict = "MISMATCH" if failed else "all conform"
        if drifted:
            verdict = f"version drift in {', '.join(drifted)}; the rest conform"
        print(f"{verdict}: {len(rows)} runs, {total} examples, {seconds:.1f} s, torch {judged}")
    return 1 if failed else 0


def _print_row(row: dict[str, Any]) -> None:
    examples = row["examples"] if row["examples"] is not None else "-"
    modes = "/".join(row["modes"]) or "-"
    print(f"{row['name']:<10} {row['dtype']:<8} {row['verdict']:<9} {examples!s:<14} "
          f"{modes:<28} {row['seconds']:>7.2f}", flush=True)  # fmt: skip
    if "reason" in row:
        print(f"  {row['reason']}")
    if "counterexample" in row:
        print(row["counterexample"])


#: help texts argparse would otherwise leave empty: (subcommand, option) -> text
_HELP = {
    ("report", "--notes"): "the notes directory (default: shared/notes next to the checkout)",
    ("report", "--only"): "only claims whose ID starts with this",
    ("claims", "--format"): "text for people, json for programs",
    ("check", "--device"): "where to run both sides",
    ("check", "--format"): "text for people, json for programs",
}
_DESCRIPTIONS = {
    "list": "List the optimisers optverify knows: our class, torch's reference, the torch "
    "implementations compared (modes) and the constructor flags.",
    "verify": "Run the conformance property of each of our optimisers against the installed "
    "torch: bit for bit with torch's for-loop path, faithfully with its foreach/fused paths, "
    "in float64 and float32. Exit 0 all conform (or drift on a torch other than the one ours "
    "mirror), 1 a mismatch, 2 a usage error.",
    "claims": "Decide every claim of the notes and print the verdicts.",
    "report": "Decide every claim of the notes and write the citeable report (claims.md, "
    "claims.json and figures) to --out.",
}


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="optverify",
        description="Machine-checked correctness reference and conformance kit for torch.optim.",
    )
    parser.add_argument(
        "--version", action="version",
        version=f"optverify {__version__} (torch {torch_compat.installed_torch()}; our classes "
        f"mirror torch {torch_compat.MIRRORED})",
    )  # fmt: skip
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="the optimisers, their torch references and flags")
    p.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people, json for programs")  # fmt: skip
    p.set_defaults(func=_cmd_list)
    v = sub.add_parser(
        "verify", help="run the conformance properties of our optimisers against torch"
    )
    v.add_argument("names", nargs="*", metavar="NAME", help="optimisers (default: all)")
    v.add_argument("--max-examples", type=_positive_int, default=100,
                   help="examples per optimiser and dtype")  # fmt: skip
    v.add_argument("--seed", type=int, default=0, help="Hypothesis seed")
    v.add_argument("--format", choices=("text", "json"), default="text",
                   help="text for people, json for programs")  # fmt: skip
    v.add_argument("--progress", action="store_true",
                   help="report progress on stderr (examples run, seconds)")  # fmt: skip
    v.set_defaults(func=_cmd_verify)
    from optverify import audit_cli, check, fuzz, report

    report.register(sub)
    check.register(sub)
    fuzz.register(sub)
    audit_cli.register(sub)
    for name, sp in sub.choices.items():
        sp.formatter_class = _Formatter
        if name in _DESCRIPTIONS and not sp.description:
            sp.description = _DESCRIPTIONS[name]
        for action in sp._actions:
            for option in action.option_strings:
                if (name, option) in _HELP and not action.help:
                    action.help = _HELP[(name, option)]
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    hints.EXAMPLES.reset()
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print(hints.interrupted_message(f"optverify {args.command}"), file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        first = str(error).strip().splitlines()
        print(f"optverify: {type(error).__name__}: {first[0] if first else ''}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
