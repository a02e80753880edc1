"""``optverify audit-torch [NAME ...]``: torch's implementations of each optimiser against
each other and the exact maths (:mod:`optverify.properties.audit`).

Exit codes: 0 the audit ran (findings are torch's disagreements, not failures of the
command); 2 a usage or input error (one line on stderr); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["OPTIMIZERS", "register", "render_audit_markdown", "run_audit"]

#: the optimisers of ``properties.specs.SPECS`` (checked without importing torch, so a usage
#: error answers at once; ``tests/test_audit.py`` keeps the two lists equal)
OPTIMIZERS = (
    "SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "RMSprop", "Adamax", "NAdam", "RAdam",
    "ASGD", "Rprop", "Adafactor", "Muon", "SparseAdam", "LBFGS",
)  # fmt: skip

_DTYPES = ("float64", "float32", "bfloat16", "float16", "complex128", "complex64")


def _usage_error(message: str) -> NoReturn:
    """argparse's errors as one line (not argparse's usage block), exit 2."""
    print(f"optverify audit-torch: {message}", file=sys.stderr)
    raise SystemExit(2)


def register(subparsers: Any) -> None:
    """Add ``audit-torch`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "audit-torch",
        help="torch against itself: every implementation of every optimiser, judged",
        description=(
            "Judge each of torch's implementations (for-loop, foreach, fused; capturable on "
            "CUDA) of each optimiser against the others and the exact maths, over every dtype "
            "and the default coverage of shapes. Exit 0 when the audit ran (findings "
            "included), 2 on bad input."
        ),
    )
    p.error = _usage_error
    p.add_argument("names", nargs="*", metavar="NAME", help="optimisers (default: all)")
    p.add_argument("--max-examples", type=int, default=30,
                   help="problems per optimiser x implementation (default 30)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--dtype", action="append", default=None, metavar="DTYPE",
                   help=f"narrow the dtypes (repeatable; one of {', '.join(_DTYPES)})")  # fmt: skip
    p.add_argument("--format", choices=("text", "json", "markdown"), default="text")
    p.add_argument("--out", type=Path, default=None,
                   help="write one repro script per finding (and audit.json) into DIR")  # fmt: skip
    p.add_argument("--no-shrink", action="store_true", help="report findings unshrunk")
    p.add_argument("--shrink-seconds", type=float, default=30.0,
                   help="time to shrink each finding (default 30)")  # fmt: skip
    p.set_defaults(func=run_audit)


def _fail(message: str) -> int:
    print(f"optverify audit-torch: {message}", file=sys.stderr)
    return 2


def _check(args: argparse.Namespace) -> str | None:
    unknown = [n for n in args.names if n not in OPTIMIZERS]
    if unknown:
        return f"unknown optimiser {', '.join(unknown)}; valid: {', '.join(OPTIMIZERS)}"
    if not args.shrink_seconds >= 0:
        return f"--shrink-seconds must be 0 or more, got {args.shrink_seconds}"
    if args.max_examples < 1:
        return f"--max-examples must be at least 1, got {args.max_examples}"
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        return f"--device must be cpu or cuda, got {args.device!r}"
    bad = [d for d in args.dtype or () if d not in _DTYPES]
    if bad:
        return f"unknown dtype {', '.join(bad)}; valid: {', '.join(_DTYPES)}"
    if args.out is not None:
        if args.out.exists() and not args.out.is_dir():
            return f"--out {args.out}: not a directory"
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            return f"--out {args.out}: {error.strerror or error}"
        if not os.access(args.out, os.W_OK):
            return f"--out {args.out}: not writable"
    return None


def run_audit(args: argparse.Namespace) -> int:
    """The ``audit-torch`` command."""
    problem = _check(args)
    if problem is not None:
        return _fail(problem)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        return _fail("--device cuda: no CUDA device is available")
    from optverify.properties.audit import audit

    def progress(line: str) -> None:
        if args.format == "text":
            print(line, file=sys.stderr, flush=True)

    dtypes = [getattr(torch, d) for d in args.dtype] if args.dtype else None
    report = audit(
        args.names or None, max_examples=args.max_examples, seed=args.seed,
        device=args.device, dtypes=dtypes, shrink=not args.no_shrink,
        shrink_seconds=args.shrink_seconds, progress=progress,
    )  # fmt: skip
    data = report.to_json()
    if args.out is not None:
        for finding in report.findings:
            (args.out / finding.file_name).write_text(finding.script())
        (args.out / "audit.json").write_text(json.dumps(data, indent=2) + "\n")
    if args.format == "json":
        print(json.dumps(data, indent=2))
    elif args.format == "markdown":
        print(render_audit_markdown(report.findings, runs=data["runs"], torch_version=report.torch))
    else:
        print(render_audit_text(data))
    return 0


def render_audit_text(data: dict[str, Any]) -> str:
    """The text table of an audit (``AuditReport.to_json()``)."""
    findings = data["findings"]
    lines = [
        f"torch {data['torch']} on {data['device']}: {len(findings)} disagreement(s) among "
        f"torch's implementations; {sum(r['examples'] for r in data['runs'])} examples, "
        f"seed {data['seed']}, {data['seconds']:.1f} s"
    ]
    if findings:
        head = ("optimizer", "impl", "against", "dtype", "class", "step", "repro")
        rows = [
            (f["optimizer"], f["implementation"], f["against"], f["dtype"], f["class"],
             str(f["step"]), f["repro_file"])
            for f in findings
        ]  # fmt: skip
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
        for row in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        lines.append("")
        for f in findings:
            lines.append(f"{f['repro_file']}: {f['summary']}")
    for run in data["runs"]:
        extra = "; ".join(f"{k} refused ({v})" for k, v in run["unsupported"].items())
        if run["note"]:
            lines.append(f"{run['optimizer']} {run['implementation']}: {run['note']}")
        elif extra:
            lines.append(f"{run['optimizer']} {run['implementation']}: {extra}")
    return "\n".join(lines)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_audit_markdown(
    findings: Sequence[Any],
    *,
    runs: Sequence[dict[str, Any]] | None = None,
    torch_version: str | None = None,
) -> str:
    """A report section on torch against itself.

    ``findings``: :class:`~optverify.properties.audit.AuditFinding` objects or their JSON
    form (``audit.json``'s ``findings``); ``runs`` (``audit.json``'s ``runs``) adds what
    was covered and what each implementation refuses.
    """
    rows = [f if isinstance(f, dict) else f.to_json() for f in findings]
    version = torch_version or (rows[0]["torch"] if rows else "")
    lines = ["## torch against itself", ""]
    lines.append(
        f"Each of torch{' ' + version if version else ''}'s implementations of each optimiser "
        "(for-loop, foreach, fused) judged against the others and the exact maths "
        "(`optverify audit-torch`). A finding is a disagreement beyond rounding (the verdict "
        "model's budget); each comes with a script that exits 1 while it is there."
    )
    lines.append("")
    if not rows:
        lines.append("No disagreement found.")
    else:
        lines.append("| optimizer | implementation | against | dtype | class | finding | repro |")
        lines.append("|---|---|---|---|---|---|---|")
        for f in rows:
            lines.append(
                f"| {f['optimizer']} | {f['implementation']} | {f['against']} | {f['dtype']} "
                f"| {f['class']} | {_cell(f['summary'])} | `{f['repro_file']}` |"
            )
    if runs:
        examples = sum(r["examples"] for r in runs)
        lines += ["", f"Coverage: {examples} problems over {len(runs)} implementations."]
        for r in runs:
            if r["note"]:
                lines.append(f"- {r['optimizer']} {r['implementation']}: {r['note']}")
            for what, why in r["unsupported"].items():
                lines.append(f"- {r['optimizer']} {r['implementation']} refuses {what}: "
                             f"`{_cell(why)}`")  # fmt: skip
    for f in rows:
        lines += ["", f"### {f['repro_file']}", "", "```python", f["repro"].rstrip(), "```"]
    return "\n".join(lines) + "\n"
