"""``optverify report --history DIR``: the bug benchmark over torch's releases as a table.

Reads the ``VERSION.json`` files of ``python -m optverify.history run`` and renders, as
Markdown, one row per distinct defect (:func:`optverify.history.defect_id`) and one column
per release: where it was found, where it was not, and where it could not be (the release
lacks the optimiser or the implementation). Then when each defect appeared and disappeared,
the upstream pytorch issue or pull request that reported or fixed it (only those found in
pytorch's tracker, :data:`REFERENCES`), and the releases whose own ``test/test_optim.py``
shipped with it uncaught. Only counted findings are defects: the repro script, run on that
release, showed it, and its class is not ``precision`` (a rounding-level note).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["REFERENCES", "Defect", "collect", "load", "render", "run_history_report"]

#: upstream reports and fixes found in pytorch's tracker (or, where marked, a report
#: elsewhere naming pytorch's fixing commit): (defect id prefix, dtype prefix or "" for any,
#: URL, what it says). A defect id starts with ``OPTIMIZER/IMPLEMENTATION/CLASS/``; one of
#: the dtype prefixes (``|``-separated) must match the dtype of one of the defect's findings.
REFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("SGD/fused/mismatch/", "bfloat16|float16", "https://github.com/pytorch/pytorch/issues/191763",
     "issue: fused SGD on CPU skips the vectorised part of float16/bfloat16 parameters; it "
     "notes that test_optim.py's models are too small to reach a SIMD block"),
    ("ASGD/foreach/mismatch/", "", "https://github.com/pytorch/pytorch/pull/125440",
     "pull request: foreach and for-loop ASGD compute eta/mu differently (closed)"),
    ("Adadelta/foreach/", "complex", "https://github.com/pytorch/pytorch/issues/110606",
     "issue: NAdam, RAdam and the foreach Adadelta do not support complex parameters "
     "(fixed for Adadelta by pull request 110631)"),
    ("Adadelta/foreach/", "complex", "https://github.com/pytorch/pytorch/pull/110631",
     "pull request: foreach Adadelta handles complex parameters (as view_as_real)"),
    ("Adam/foreach/validation/raises", "complex",
     "https://github.com/i404788/s5-pytorch/issues/2",
     "report outside pytorch: torch 2.0.1's _multi_tensor_adam uses the wrong variable for "
     "weight decay on complex parameters; it names pytorch commit f558af2 as the fix"),
)  # fmt: skip


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("+")[0].split(".") if p.isdigit())


def load(folder: Path) -> list[dict[str, Any]]:
    """The ``VERSION.json`` records of ``folder``, oldest release first."""
    if not folder.is_dir():
        raise FileNotFoundError("not a directory")
    records = []
    for path in folder.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path.name}: not a history record ({error})") from None
        if not isinstance(data, dict) or "version" not in data or "findings" not in data:
            raise ValueError(f"{path.name}: not a history record (no version/findings)")
        records.append(data)
    if not records:
        raise FileNotFoundError("no VERSION.json history records in it")
    return sorted(records, key=lambda r: _version_key(r["version"]))


@dataclass
class Defect:
    """One distinct defect across releases."""

    id: str
    #: release -> its first counted finding there
    found: dict[str, dict[str, Any]] = field(default_factory=dict)
    references: list[tuple[str, str]] = field(default_factory=list)

    @property
    def optimizer(self) -> str:
        return self.id.split("/")[0]

    @property
    def implementation(self) -> str:
        return self.id.split("/")[1]


def _audited(record: dict[str, Any], optimizer: str, implementation: str) -> bool:
    """Whether ``record``'s release had that optimiser × implementation to audit."""
    return any(
        r["optimizer"] == optimizer and r["implementation"] == implementation
        and not str(r.get("note", "")).startswith("skipped") and r.get("examples", 0) > 0
        for r in record["runs"]
    )  # fmt: skip


def collect(records: Sequence[dict[str, Any]]) -> list[Defect]:
    """The distinct defects of ``records``, ordered by first appearance then id."""
    from optverify.history import annotate

    defects: dict[str, Defect] = {}
    for record in records:
        for finding in record["findings"]:
            annotate(finding)
            if not finding.get("counted"):
                continue
            d = defects.setdefault(finding["defect"], Defect(finding["defect"]))
            d.found.setdefault(record["version"], finding)
    order = [r["version"] for r in records]
    for d in defects.values():
        dtypes = {str(f.get("dtype", "")) for f in d.found.values()}
        d.references = [
            (u, w) for prefix, dtype, u, w in REFERENCES
            if d.id.startswith(prefix)
            and any(t.startswith(p) for t in dtypes for p in dtype.split("|"))
        ]  # fmt: skip
    return sorted(defects.values(), key=lambda d: (min(order.index(v) for v in d.found), d.id))


def _span(d: Defect, records: Sequence[dict[str, Any]]) -> tuple[str, str]:
    versions = [r["version"] for r in records]
    present = [i for i, v in enumerate(versions) if v in d.found]
    first, last = present[0], present[-1]
    appeared = versions[first] if first > 0 else f"{versions[0]} or earlier"
    if last == len(versions) - 1:
        return appeared, "present in the newest release"
    after = [versions[i] for i in range(last + 1, len(versions))
             if _audited(records[i], d.optimizer, d.implementation)]  # fmt: skip
    return appeared, (f"not found from {after[0]}" if after else "not audited after")


def _cell(d: Defect, record: dict[str, Any]) -> str:
    if record["version"] in d.found:
        return "**found**"
    if not _audited(record, d.optimizer, d.implementation):
        return "n/a"
    return "·"


def render(records: Sequence[dict[str, Any]]) -> str:
    """The history report (Markdown)."""
    from optverify.history import both_raised

    defects = collect(records)
    versions = [r["version"] for r in records]
    newest = versions[-1]
    lines = ["# torch's optimisers across releases: defects `optverify audit-torch` found", ""]
    lines.append(
        "Each release audited in a fresh environment (`python -m optverify.history run`); a "
        "defect is a finding whose repro script, run on that release, showed it and whose "
        "class is not `precision`; a finding where both implementations raise (different "
        "errors) is an input both refuse, not counted. **found**: the audit found it; `·`: "
        "audited, not found (a sampled search: absence is evidence, not proof); n/a: the "
        "release lacks that optimiser or implementation on CPU."
    )
    lines.append("")
    lines.append("| defect | " + " | ".join(versions) + " | appeared | disappeared | upstream |")
    lines.append("|---|" + "---|" * len(versions) + "---|---|---|")
    for d in defects:
        appeared, gone = _span(d, records)
        refs = ", ".join(f"[{_short(u)}]({u})" for u, _ in d.references) or "none found"
        cells = " | ".join(_cell(d, r) for r in records)
        lines.append(f"| `{d.id}` | {cells} | {appeared} | {gone} | {refs} |")
    lines += ["", "## Per release", ""]
    lines.append("| release | defects found | findings | not reproduced | precision | both refuse "
                 "| examples | seconds |")  # fmt: skip
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in records:
        fs = r["findings"]
        found = len({f["defect"] for f in fs if f.get("counted")})
        unrepro = sum(1 for f in fs if not f.get("reproduced"))
        precision = sum(1 for f in fs if f["class"] == "precision")
        refused = sum(1 for f in fs if both_raised(f))
        examples = sum(x.get("examples", 0) for x in r["runs"])
        seconds = r.get("wall_seconds", r.get("seconds", ""))
        lines.append(f"| {r['version']} | {found} | {len(fs)} | {unrepro} | {precision} | "
                     f"{refused} | {examples} | {seconds} |")  # fmt: skip
    with_refs = sum(1 for d in defects if d.references)
    still = sum(1 for d in defects if newest in d.found)
    lines += [
        "",
        f"**{len(defects)} distinct defect(s)** over {len(versions)} release(s); "
        f"{with_refs} with an upstream issue or pull request found; {still} present in the "
        f"newest release audited ({newest}). Each was shipped in every release marked "
        "**found**, so that release's own `test/test_optim.py` did not catch it.",
        "",
        "## Defects",
    ]
    for d in defects:
        lines += ["", f"### `{d.id}`", ""]
        shipped = ", ".join(v for v in versions if v in d.found)
        lines.append(f"Found in {shipped} (not caught by those releases' `test/test_optim.py`).")
        for u, what in d.references:
            lines.append(f"- upstream: <{u}> — {what}")
        latest = d.found[max(d.found, key=_version_key)]
        lines += ["", f"On {latest['torch']}: {latest['summary']}", ""]
        lines += [f"Repro (`{latest['repro_file']}`, exits 1 while the defect is there):", ""]
        lines += ["```python", latest["repro"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _short(url: str) -> str:
    """``pytorch issue 110606``, ``pytorch pull 110631``; another repository by its name."""
    parts = url.rstrip("/").split("/")
    if len(parts) < 5:
        return url
    repo = "pytorch" if parts[-4:-2] == ["pytorch", "pytorch"] else "/".join(parts[-4:-2])
    kind = {"issues": "issue", "pull": "pull"}.get(parts[-2], parts[-2])
    return f"{repo} {kind} {parts[-1]}"


def run_history_report(folder: Path, out: Path | None) -> int:
    """``optverify report --history DIR [--out OUT]``: 0, or 2 (one line) on bad input."""
    try:
        text = render(load(Path(folder)))
    except (FileNotFoundError, ValueError, KeyError, TypeError) as error:
        message = str(error) if not isinstance(error, KeyError) else f"missing field {error}"
        print(f"optverify report: --history {folder}: {message}", file=sys.stderr)
        return 2
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "history.md").write_text(text, encoding="utf-8")
    except OSError as error:
        print(f"optverify report: cannot write to --out {out}: {error.strerror or error}",
              file=sys.stderr)  # fmt: skip
        return 2
    print(f"optverify report: {Path(out) / 'history.md'}")
    return 0
