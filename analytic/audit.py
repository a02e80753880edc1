"""A claims: does the notes' own code run on the installed torch?

The fenced ``python`` blocks are read from the notes directory and parsed with ``ast``
(IPython ``%`` magics are set aside first). Nothing is run whole: for each construct that
decides the verdict, the smallest piece is executed on the installed torch — resolving a
``torch.…`` attribute or importing a ``torch.…`` module, indexing a 0-d loss with
``.data[0]``, wrapping a tensor in ``Variable``. Modules other than torch (torchvision,
d2l's helper package, datasets) are only looked up, never imported, and count as missing
environment, not as a torch incompatibility. No network, no training.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from optverify.analytic._common import note_lines, table, text
from optverify.analytic.verdict import Context, Verdict

__all__ = ["CHECKS", "Block", "blocks"]


@dataclass(frozen=True)
class Block:
    """One fenced python block: its first code line (1-based) and source."""

    line: int
    source: str


def blocks(lines: list[str]) -> Iterator[Block]:
    """The ```` ```python ```` blocks of a note, with the 1-based line of their first code line."""
    i = 0
    while i < len(lines):
        if lines[i].strip().startswith("```python"):
            start = i + 1
            j = start
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            yield Block(start + 1, "\n".join(lines[start:j]))
            i = j
        i += 1


def _strip_magics(src: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.splitlines())


def _resolve(dotted: str) -> tuple[bool, str]:
    """Import the longest importable torch-module prefix of ``dotted`` and getattr the rest."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        mod_name = ".".join(parts[:k])
        try:
            obj: Any = importlib.import_module(mod_name)
        except ImportError:
            continue
        try:
            for attr in parts[k:]:
                obj = getattr(obj, attr)
        except AttributeError as exc:
            return False, f"AttributeError: {exc}"
        return True, "ok"
    return False, f"ModuleNotFoundError: No module named '{dotted}'"


def _zero_d_index() -> str:
    """Execute ``loss.data[0]`` on a real 0-d loss (what ``CrossEntropyLoss`` returns)."""
    loss = torch.nn.CrossEntropyLoss()(torch.zeros(1, 2), torch.tensor([0]))
    try:
        loss.data[0]
    except IndexError as exc:
        return f"IndexError: {exc}"
    return "ok"


def _variable(volatile: bool) -> str:
    """Execute ``Variable(tensor[, volatile=True])``; report warnings."""
    from torch.autograd import Variable

    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        v = (
            Variable(torch.ones(1), volatile=True)
            if volatile
            else Variable(torch.ones(1), requires_grad=True)
        )
    kind = type(v).__name__
    msg = f"ok (returns a {kind})" + (f"; warns: {w[0].message}" if w else "")
    return msg


def _missing(name: str) -> tuple[bool, str]:
    return False, f"{name} not installed here (not part of torch)"


def _zero_d_index_runner() -> tuple[bool, str]:
    r = _zero_d_index()
    return r == "ok", r


def _variable_runner(volatile: bool) -> tuple[bool, str]:
    return True, _variable(volatile)


def _failed(result: str) -> tuple[bool, str]:
    return False, result


@dataclass
class Finding:
    construct: str
    lines: list[int]
    executed: str
    result: str
    breaks: bool  # a torch incompatibility (not a missing third-party package)


def audit_note(lines: list[str]) -> tuple[list[Finding], int]:
    """Findings for every block of one note, deduplicated by construct; also the block count."""
    found: dict[str, Finding] = {}
    n_blocks = 0

    def add(
        construct: str,
        line: int,
        executed: str,
        runner: Callable[[], tuple[bool, str]] | None,
        env: bool = False,
    ) -> None:
        if construct in found:
            found[construct].lines.append(line)
            return
        ok, res = runner() if runner else (True, "ok")
        found[construct] = Finding(construct, [line], executed, res, breaks=(not ok and not env))

    for blk in blocks(lines):
        n_blocks += 1
        try:
            tree = ast.parse(_strip_magics(blk.source))
        except SyntaxError as exc:
            lineno = blk.line + (exc.lineno or 1) - 1
            found[f"syntax@{lineno}"] = Finding(
                "block does not parse as Python 3",
                [lineno],
                "ast.parse",
                f"SyntaxError: {exc.msg}",
                True,
            )
            continue
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            line = blk.line + getattr(node, "lineno", 1) - 1
            if isinstance(node, ast.Import):
                for a in node.names:
                    aliases[(a.asname or a.name).split(".")[0] if not a.asname else a.asname] = (
                        a.name if a.asname else a.name.split(".")[0]
                    )
                    if a.name.split(".")[0] == "torch":
                        add(
                            f"import {a.name}",
                            line,
                            f"importlib.import_module({a.name!r})",
                            functools.partial(_resolve, a.name),
                        )
                    elif importlib.util.find_spec(a.name.split(".")[0]) is None:
                        add(
                            f"import {a.name}",
                            line,
                            "importlib.util.find_spec",
                            functools.partial(_missing, a.name),
                            env=True,
                        )
            elif isinstance(node, ast.ImportFrom) and node.module:
                root = node.module.split(".")[0]
                for a in node.names:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                    if root == "torch":
                        add(
                            f"from {node.module} import {a.name}",
                            line,
                            f"getattr({node.module}, {a.name!r})",
                            functools.partial(_resolve, f"{node.module}.{a.name}"),
                        )
                if root != "torch" and importlib.util.find_spec(root) is None:
                    add(
                        f"from {node.module} import …",
                        line,
                        "importlib.util.find_spec",
                        functools.partial(_missing, root),
                        env=True,
                    )
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "data"
            ):
                idx = node.slice
                if (
                    isinstance(idx, ast.Constant)
                    and idx.value == 0
                    and "loss" in ast.unparse(node.value.value)
                ):
                    add(
                        "loss.data[0] on a 0-d loss",
                        line,
                        "CrossEntropyLoss()(…).data[0]",
                        _zero_d_index_runner,
                    )
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "Variable"
            ):
                vol = any(k.arg == "volatile" for k in node.keywords)
                add(
                    "Variable(…, volatile=True)" if vol else "Variable(…)",
                    line,
                    "torch.autograd.Variable(torch.ones(1)…)",
                    functools.partial(_variable_runner, vol),
                )
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                chain = ast.unparse(node)
                root = chain.split(".")[0]
                if not re.fullmatch(r"[A-Za-z_][\w.]*", chain) or root not in aliases:
                    continue
                dotted = aliases[root] + chain[len(root) :]
                if not dotted.startswith("torch."):
                    continue
                ok, res = _resolve(dotted)
                if not ok:
                    add(
                        f"{chain} (= {dotted})",
                        blk.line + node.lineno - 1,
                        f"resolve {dotted}",
                        functools.partial(_failed, res),
                    )
    return list(found.values()), n_blocks


def _code_runs(note: str) -> Callable[[Context], Verdict]:
    def check(ctx: Context) -> Verdict:
        lines = ctx.given("lines", None) or note_lines(ctx, note)
        findings, n_blocks = audit_note(lines)
        rows = [
            (
                ", ".join(map(str, f.lines[:6])) + (" …" if len(f.lines) > 6 else ""),
                f.construct,
                f.executed,
                f.result,
                ("does not parse" if f.result.startswith("SyntaxError") else "breaks on torch")
                if f.breaks
                else ("missing package" if "not installed" in f.result else "runs"),
            )
            for f in findings
            if f.breaks
            or "not installed" in f.result
            or f.construct.startswith("Variable")
            or f.construct.startswith("loss")
        ]
        ev = (
            table(
                f"constructs decided by execution ({n_blocks} python blocks)",
                ("note lines", "construct", "executed", "result", "verdict"),
                rows,
            ),
            text(
                "scope",
                (
                    "Only torch constructs are executed; third-party packages are "
                    "looked up with find_spec and listed as missing environment."
                ),
            ),
        )
        breaking = [f for f in findings if f.breaks]
        if breaking:
            what = "; ".join(
                (
                    f"{f.construct} (lines {', '.join(map(str, f.lines[:4]))}"
                    f"{' …' if len(f.lines) > 4 else ''}): "
                    f"{f.result}"
                )
                for f in breaking
            )
            n_syn = sum(f.result.startswith("SyntaxError") for f in breaking)
            head = (
                f"{len(breaking) - n_syn} torch construct(s) break on torch {torch.__version__}"
                + (f" and {n_syn} block(s) do not parse" if n_syn else "")
            )
            return Verdict("fails", f"{head}: {what}", evidence=ev)
        return Verdict(
            "holds", "every torch construct in the blocks resolves and runs", evidence=ev
        )

    check.__doc__ = f"Audit of every python block in note {note}."
    return check


def check_optim_list(ctx: Context) -> Verdict:
    """N003.optim.list (note 003 lines 405-416): the ten listed names exist; which ones the list
    lacks."""
    lines = ctx.given("lines", None) or note_lines(ctx, "003")
    listed = [m.group(1) for ln in lines[404:416] for m in re.finditer(r"optim\.(\w+)", ln)]
    rows = [(name, hasattr(torch.optim, name)) for name in listed]
    exported = [
        n
        for n in torch.optim.__all__
        if n[0].isupper()
        and isinstance(getattr(torch.optim, n), type)
        and issubclass(getattr(torch.optim, n), torch.optim.Optimizer)
        and n != "Optimizer"
    ]
    missing = sorted(set(exported) - set(listed))
    ev = (
        table("listed optimisers in torch.optim", ("name", "exists"), rows),
        text(
            "not in the note's list",
            f"torch {torch.__version__} also exports: {', '.join(missing)}",
        ),
    )
    ok = len(listed) == 10 and all(r[1] for r in rows)
    return Verdict(
        "holds" if ok else "fails",
        (
            f"all ten exist; the list predates {', '.join(missing)} ({len(exported)} "
            f"optimisers in torch {torch.__version__})"
        )
        if ok
        else f"{len(listed)} listed; not in torch.optim: "
        + (", ".join(r[0] for r in rows if not r[1]) or "-"),
        evidence=ev,
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "N000.code.runs": _code_runs("000"),
    "N002.code.runs": _code_runs("002"),
    "N003.optim.list": check_optim_list,
}
