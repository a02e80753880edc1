"""The HTML report (``index.html``): one self-contained file.

Figures are embedded as ``data:`` URIs, maths is presentation MathML (rendered by the
browser itself) with the plain-text form beside it; no script, font or style is fetched.
Every claim is a ``<section id="<claim ID>">`` so that ``index.html#N000.mom.steady`` works.
"""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path
from typing import Any

from optverify.report_text import GLOSSARY, command_for, plain_verdict, verdict_cell

__all__ = ["render_html"]

CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","WenQuanYi Zen Hei","Noto Sans",sans-serif;
max-width:74rem;margin:auto;padding:1rem 2rem;line-height:1.45;color:#1b1b1b}
table{border-collapse:collapse;margin:.5rem 0;font-size:.88rem}
td,th{border:1px solid #ccc;padding:.2rem .45rem;vertical-align:top;text-align:left}
th{background:#f3f3f3}
pre{background:#f6f6f6;padding:.5rem;overflow-x:auto;font-size:.82rem;white-space:pre-wrap}
code{background:#f3f3f3;padding:0 .2rem}
.v-holds{color:#0a6b2a;font-weight:600}.v-fails{color:#a31515;font-weight:600}
.v-holds-if{color:#8a5a00;font-weight:600}
section.claim{border-top:2px solid #ddd;margin-top:1.5rem;padding-top:.3rem}
blockquote{border-left:4px solid #bbb;margin:.4rem 0;padding:.2rem .8rem;background:#fafafa}
img{max-width:100%}
math{font-size:1.05rem}
.stamp li{font-size:.9rem}
"""


def _verdict_span(out: Any) -> str:
    return f'<span class="v-{escape(out.verdict)}">{escape(verdict_cell(out))}</span>'


def _table(columns: Any, rows: Any) -> str:
    head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _evidence(e: Any, images: dict[int, str]) -> str:
    out = [f"<h4>{escape(e.title)}</h4>" if e.title else ""]
    if e.kind == "sympy":
        if e.mathml:
            out.append(f'<math display="block">{e.mathml}</math>')
        out.append(f"<p><code>{escape(e.text)}</code></p>")
    elif e.kind == "table":
        if e.text:
            out.append(f"<p>{escape(e.text)}</p>")
        out.append(_table(e.columns, e.rows))
    elif e.kind == "figure":
        uri = images.get(id(e))
        if uri:
            out.append(f'<p><img alt="{escape(e.title)}" src="{uri}"></p>')
            if e.text and not e.text.endswith(".png"):
                out.append(f"<p>{escape(e.text)}</p>")
        else:
            out.append(f"<p>(figure not drawn: {escape(e.text)})</p>")
    elif e.kind == "numbers":
        if e.text:
            out.append(f"<p>{escape(e.text)}</p>")
        items = "".join(
            f"<li>{escape(str(k))}: <code>{escape(str(v))}</code></li>" for k, v in e.data.items()
        )
        out.append(f"<ul>{items}</ul>")
    elif e.kind == "counterexample":
        out.append(f"<p>{escape(e.text)}</p>")
        if e.data:
            body = json.dumps(e.data, indent=1, default=str, ensure_ascii=False)
            out.append(f"<pre>{escape(body)}</pre>")
    else:
        out.append(f"<pre>{escape(e.text)}</pre>" if "\n" in e.text else f"<p>{escape(e.text)}</p>")
    return "\n".join(out)


def _images(out_dir: Path, figures: dict[int, str]) -> dict[int, str]:
    uris = {}
    for key, name in figures.items():
        data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
        uris[key] = f"data:image/png;base64,{data}"
    return uris


def render_html(
    results: list[tuple[Any, Any]],
    stamp: dict[str, Any],
    figures: dict[int, str],
    quotes: dict[str, tuple[str, list[tuple[int, str]], int]],
    out_dir: Path,
    speed_html: str,
) -> str:
    """The whole ``index.html``, figures read from ``out_dir`` and embedded."""
    images = _images(out_dir, figures)
    counts: dict[str, int] = {}
    for _, o in results:
        counts[o.verdict] = counts.get(o.verdict, 0) + 1
    dirty = {True: " (dirty)", False: "", None: ""}[stamp["optverify_dirty"]]
    shas = "".join(
        f"<li><code>{escape(n)}</code> <code>{escape(d)}</code></li>"
        for n, d in stamp["notes_sha256"].items()
    )
    seeds = ", ".join(f"{k} {v}" for k, v in stamp["seeds"].items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Claims of the optimiser notes, decided</title>",
        f"<style>{CSS}</style></head><body>",
        '<header id="top"><h1>Claims of the optimiser notes, decided</h1><ul class="stamp">',
        f"<li>optverify commit <code>{escape(str(stamp['optverify_commit']))}</code>"
        f"{escape(dirty)}</li>",
        f"<li>torch {escape(stamp['torch'])} · Python {escape(stamp['python'])} · "
        f"{escape(stamp['platform'])} ({escape(stamp['machine'])})</li>",
        f"<li>seeds: {escape(seeds)}</li><li>date: {escape(stamp['date'])}</li>",
        f"<li>notes <code>{escape(stamp['notes_dir'])}</code>, sha256 of every file read:"
        f"<ul>{shas}</ul></li></ul>",
        "<p>Verdicts: "
        + escape(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        + ". The rule is written in <code>analytic/verdict.py</code>; terms are defined in the "
        '<a href="#glossary">glossary</a>.</p></header>',
        '<nav id="index"><h2>Index</h2><table><thead><tr><th>ID</th><th>kind</th>'
        "<th>note, lines</th><th>verdict</th><th>summary</th></tr></thead><tbody>",
    ]
    for c, o in results:
        parts.append(
            f'<tr><td><a href="#{escape(c.id)}">{escape(c.id)}</a></td><td>{c.kind}</td>'
            f"<td><code>{escape(c.note)}</code> {escape(c.lines)}</td>"
            f"<td>{_verdict_span(o)}</td><td>{escape(o.summary)}</td></tr>"
        )
    parts.append("</tbody></table></nav><main>")
    for c, o in results:
        source, lines, more = quotes[c.id]
        sec = [f'<section class="claim" id="{escape(c.id)}"><h2>{escape(c.id)}</h2>']
        if lines:
            body = "\n".join(f"{k:>5}  {t}" for k, t in lines)
            if more:
                body += f"\n       … {more} more cited line(s)"
            sec.append(
                f"<p>The note says ({escape(source)}, lines {escape(c.lines)}):</p>"
                f'<blockquote><pre lang="zh">{escape(body)}</pre></blockquote>'
            )
        else:
            sec.append(f"<p>The note says: {escape(source)}, {escape(c.lines)}.</p>")
        sec += [
            f"<p>Catalogue (kind {c.kind}): <em>{escape(c.statement)}</em></p>",
            f"<p><strong>Verdict: {_verdict_span(o)}.</strong> {escape(plain_verdict(o))}</p>",
            f"<p>{escape(o.summary)}</p>",
            f"<p>Re-decide this claim alone: <code>{escape(command_for(c.id))}</code></p>",
        ]
        sec += [_evidence(e, images) for e in o.evidence]
        sec.append('<p><a href="#index">back to the index</a></p></section>')
        parts.append("\n".join(sec))
    parts.append("</main>")
    parts.append(speed_html)
    parts.append('<section id="glossary"><h2>Glossary</h2><dl>')
    parts += [f"<dt><strong>{escape(t)}</strong></dt><dd>{escape(d)}</dd>"
              for t, d in GLOSSARY.items()]  # fmt: skip
    parts.append("</dl></section></body></html>")
    return "\n".join(parts)
