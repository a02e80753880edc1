"""The Markdown report (``claims.md``): stamped header, index, one section per claim."""

from __future__ import annotations

import json
from typing import Any

from optverify.report_text import GLOSSARY, command_for, plain_verdict, verdict_cell

__all__ = ["render_markdown"]


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _evidence(e: Any, figures: dict[int, str]) -> list[str]:
    out = [f"**{e.title}**" if e.title else ""]
    if e.kind == "sympy":
        if e.latex:
            out.append(f"$$ {e.latex} $$")
        out.append(f"`{e.text}`")
    elif e.kind == "table":
        if e.text:
            out.append(e.text)
        out.append("")
        out.append("| " + " | ".join(_cell(c) for c in e.columns) + " |")
        out.append("|" + " --- |" * len(e.columns))
        out.extend("| " + " | ".join(_cell(v) for v in r) + " |" for r in e.rows)
    elif e.kind == "figure":
        name = figures.get(id(e))
        out.append(f"![{e.title}]({name})" if name else f"(figure not drawn: {e.text})")
        if name and e.text and not e.text.endswith(".png"):
            out.append(e.text)
    elif e.kind == "numbers":
        if e.text:
            out.append(e.text)
        out.extend(f"- {k}: `{v}`" for k, v in e.data.items())
    elif e.kind == "counterexample":
        out.append(e.text)
        if e.data:
            body = json.dumps(e.data, indent=1, default=str, ensure_ascii=False)
            out.append("```\n" + body + "\n```")
    else:
        out.append(e.text if "\n" not in e.text else "```\n" + e.text + "\n```")
    return [*out, ""]


def header(stamp: dict[str, Any], counts: dict[str, int]) -> list[str]:
    """The stamp as Markdown lines (shared with the HTML header's content)."""
    dirty = {True: " (dirty)", False: "", None: ""}[stamp["optverify_dirty"]]
    md = [
        "# Claims of the optimiser notes, decided",
        "",
        f"- optverify commit: `{stamp['optverify_commit']}`{dirty}",
        f"- torch {stamp['torch']} · Python {stamp['python']} · {stamp['platform']} "
        f"({stamp['machine']})",
        f"- seeds: {', '.join(f'{k} {v}' for k, v in stamp['seeds'].items())}",
        f"- date: {stamp['date']}",
        f"- notes: `{stamp['notes_dir']}`; sha256 of every file read:",
    ]
    md += [f"  - `{name}` `{digest}`" for name, digest in stamp["notes_sha256"].items()]
    md += [
        "",
        "Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ". "
        "The rule for holds / holds-if / fails is written in `analytic/verdict.py`; the terms "
        "are defined in the [glossary](#glossary).",
        "",
    ]
    return md


def render_markdown(
    results: list[tuple[Any, Any]],
    stamp: dict[str, Any],
    figures: dict[int, str],
    quotes: dict[str, tuple[str, list[tuple[int, str]], int]],
    speed: list[str],
) -> str:
    """The whole ``claims.md``."""
    counts: dict[str, int] = {}
    for _, o in results:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    md = header(stamp, counts)
    md += ["| ID | kind | note, lines | verdict | summary |", "| --- | --- | --- | --- | --- |"]
    md += [
        f"| [{c.id}](#{c.id}) | {c.kind} | `{c.note}` {_cell(c.lines)} | "
        f"{_cell(verdict_cell(o))} | {_cell(o.summary)} |"
        for c, o in results
    ]
    md.append("")
    for c, o in results:
        source, lines, more = quotes[c.id]
        md += [f'<a id="{c.id}"></a>', "", f"## {c.id}", ""]
        if lines:
            md += [f"The note says ({source}, lines {c.lines}):", "", "```text"]
            md += [f"{k:>5}  {t}" for k, t in lines]
            if more:
                md.append(f"       … {more} more cited line(s)")
            md += ["```", ""]
        else:
            md += [f"The note says: {source}, {c.lines}.", ""]
        md += [
            f"Catalogue (kind {c.kind}): *{c.statement}*",
            "",
            f"**Verdict: {verdict_cell(o)}.** {plain_verdict(o)}",
            "",
            o.summary,
            "",
            f"Re-decide this claim alone: `{command_for(c.id)}`",
            "",
        ]
        for e in o.evidence:
            md += _evidence(e, figures)
    md += speed
    md += ['<a id="glossary"></a>', "", "## Glossary", ""]
    md += [f"- **{term}**: {text}" for term, text in GLOSSARY.items()]
    md.append("")
    return "\n".join(md)
