"""The ``optverify`` command: ``list``, ``verify``, ``claims``, ``report``.

Exit codes: 0 success (or conformance), 1 a mismatch, 2 a usage or input error. Errors are
one line on stderr, never a traceback (``--debug`` shows it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]


def _pin_threads() -> None:
    # One thread: on small machines torch's default OpenMP threads stall per parallel region.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


def _cmd_list(args: argparse.Namespace) -> int:
    from properties.specs import SPECS

    rows = [
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


def _cmd_verify(args: argparse.Namespace) -> int:
    _pin_threads()
    import torch

    from properties.conformance import NonConformance, assert_conforms
    from properties.specs import SPECS

    names = args.names or list(SPECS)
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        print(
            f"optverify verify: unknown optimiser {', '.join(unknown)}; valid: {', '.join(SPECS)}",
            file=sys.stderr,
        )
        return 2
    rows: list[dict[str, Any]] = []
    failed = False
    for name in names:
        spec = SPECS[name]
        for dtype in (torch.float64, torch.float32):
            start = time.perf_counter()
            row: dict[str, Any] = {"name": name, "dtype": str(dtype).removeprefix("torch.")}
            try:
                summary = assert_conforms(
                    spec.ours, name, max_examples=args.max_examples, seed=args.seed,
                    dtypes=[dtype], tolerance="exact",
                )  # fmt: skip
                row.update(verdict="conforms", examples=summary.examples, modes=list(summary.modes))
            except NonConformance as failure:
                failed = True
                row.update(verdict="MISMATCH", examples=None, modes=list(spec.modes),
                           counterexample=str(failure))  # fmt: skip
            row["seconds"] = round(time.perf_counter() - start, 2)
            rows.append(row)
            if args.format == "text":
                examples = row["examples"] if row["examples"] is not None else "-"
                modes = "/".join(row["modes"])
                print(
                    f"{name:<10} {row['dtype']:<8} {row['verdict']:<9} examples {examples:<5} "
                    f"modes {modes:<22} {row['seconds']:>7.2f} s",
                    flush=True,
                )
                if "counterexample" in row:
                    print(row["counterexample"])
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    else:
        total = sum(r["examples"] or 0 for r in rows)
        seconds = sum(r["seconds"] for r in rows)
        verdict = "MISMATCH" if failed else "all conform"
        print(f"{verdict}: {len(rows)} runs, {total} examples, {seconds:.1f} s")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="optverify",
        description="Machine-checked correctness reference and conformance kit for torch.optim.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="the optimisers, their torch references and flags")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=_cmd_list)
    v = sub.add_parser(
        "verify", help="run the conformance properties of our optimisers against torch"
    )
    v.add_argument("names", nargs="*", metavar="NAME", help="optimisers (default: all)")
    v.add_argument("--max-examples", type=int, default=100, help="examples per dtype")
    v.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0)")
    v.add_argument("--format", choices=("text", "json"), default="text")
    v.set_defaults(func=_cmd_verify)
    from optverify import check, report

    report.register(sub)
    check.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("optverify: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        first = str(error).strip().splitlines()
        print(f"optverify: {type(error).__name__}: {first[0] if first else ''}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
