"""CI-native output of ``optverify check``: JUnit XML and GitHub Actions annotations.

Both are built from the JSON object ``optverify check --format json`` prints (the dict of
``optverify.check.render_json``), so they say exactly what the report says:

* :func:`junit_xml` / :func:`write_junit` — one ``<testcase>`` per target and dtype. A
  conforming run passes every dtype; a mismatch fails the dtype(s) of its counterexample with
  the one-line verdict as the failure ``message`` and the whole counterexample (case, values,
  rerun command, reproducing script) as its text, and marks the other dtypes skipped (the run
  stops at its first counterexample, so they are not concluded); a usage or loading error
  (``{"verdict": "error"}``) is an ``<error>``.
* :func:`github_annotations` / :func:`emit_github_annotations` — ``::error`` workflow
  commands for a mismatch or an error, placed on the target's class when it is a file, and
  written only when ``GITHUB_ACTIONS=true``.
"""

from __future__ import annotations

import os
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "emit_github_annotations",
    "github_annotations",
    "junit_xml",
    "testcases",
    "write_junit",
]

Report = Mapping[str, Any]


def _reports(reports: Report | Sequence[Report]) -> list[Report]:
    return [reports] if isinstance(reports, Mapping) else list(reports)


def _failed_dtypes(report: Report) -> set[str]:
    ce = report.get("counterexample") or {}
    return {str(p.get("dtype")) for p in ce.get("params") or [] if p.get("dtype")}


def failure_text(report: Report) -> str:
    """The counterexample as a person reads it: verdict, case, values, rerun, script."""
    ce = report.get("counterexample") or {}
    lines = [str(report.get("summary", "mismatch"))]
    if ce:
        where = f"step {ce['step']}" if ce.get("step") is not None else "constructor"
        if ce.get("param") is not None:
            where += f", param {ce['param']}"
        if ce.get("state_key") is not None:
            where += f", state[{ce['state_key']!r}]"
        lines += [
            f"reference:  {ce.get('reference')}",
            f"where:      {where}: {ce.get('what')}: {ce.get('detail')}",
            f"problem:    {ce.get('problem')}",
        ]
        for j, code in enumerate(ce.get("hyperparameters_code") or []):
            lines.append(f"group {j}:    {code}")
        for step, changes in (ce.get("schedule") or {}).items():
            lines.append(f"before step {step}: set {', '.join(changes)}")
        for side in ("target_value", "torch_value"):
            if ce.get(side) is not None:
                lines.append(f"{side.split('_')[0] + ':':<11} {ce[side]}")
        if ce.get("max_abs_err") is not None:
            lines.append(f"max abs err {ce['max_abs_err']}, max rel err {ce.get('max_rel_err')}")
        lines.append(f"rerun:      {ce.get('rerun')}")
    lines += [f"note: {n}" for n in report.get("notes") or []]
    if report.get("repro"):
        lines += ["", "reproducing script (runs without optverify):", str(report["repro"])]
    return "\n".join(lines)


def testcases(report: Report, target: str | None = None) -> list[dict[str, Any]]:
    """The test cases of one report: ``{"classname", "name", "time", "outcome", "message",
    "text"}`` with ``outcome`` one of ``passed``, ``failure``, ``skipped``, ``error``."""
    verdict = report.get("verdict")
    shown = report.get("target") or target or "optverify check"
    against = report.get("against") or "torch.optim"
    if verdict == "error":
        message = str(report.get("error", "error"))
        return [{"classname": "optverify.check", "name": f"{shown} vs {against}", "time": 0.0,
                 "outcome": "error", "message": message, "text": message}]  # fmt: skip
    if verdict not in ("conforms", "mismatch"):
        raise ValueError(f"not a report of optverify check: verdict {verdict!r}")
    dtypes = [str(d) for d in report.get("dtypes") or ["float64", "float32"]]
    failed = _failed_dtypes(report) & set(dtypes) or set(dtypes)
    seconds = float(report.get("seconds") or 0.0) / len(dtypes)
    cases = []
    for dtype in dtypes:
        case: dict[str, Any] = {
            "classname": f"optverify.check.{report.get('class', 'target')}",
            "name": f"{shown} vs {against} [{dtype}]",
            "time": seconds,
            "outcome": "passed",
            "message": "",
            "text": "",
        }
        if verdict == "mismatch" and dtype in failed:
            case.update(outcome="failure", message=str(report.get("summary", "mismatch")),
                        text=failure_text(report))  # fmt: skip
        elif verdict == "mismatch":
            case.update(
                outcome="skipped",
                message=f"not concluded: the run stopped at its counterexample in "
                f"{', '.join(sorted(failed))}",
            )
        cases.append(case)
    return cases


def _clean(text: str) -> str:
    """XML 1.0 cannot carry most control characters (a counterexample may print any)."""
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "?", text)


def junit_xml(reports: Report | Sequence[Report], suite: str = "optverify") -> str:
    """A JUnit XML document (``<testsuites>`` with one ``<testsuite>``) for ``reports``."""
    cases = [c for r in _reports(reports) for c in testcases(r)]
    count = {k: sum(c["outcome"] == k for c in cases) for k in ("failure", "error", "skipped")}
    total = sum(c["time"] for c in cases)
    root = ET.Element("testsuites", name=suite, tests=str(len(cases)),
                      failures=str(count["failure"]), errors=str(count["error"]),
                      skipped=str(count["skipped"]), time=f"{total:.3f}")  # fmt: skip
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                         failures=str(count["failure"]), errors=str(count["error"]),
                         skipped=str(count["skipped"]), time=f"{total:.3f}")  # fmt: skip
    props = ET.SubElement(node, "properties")
    for r in _reports(reports):
        for key in ("seed", "examples", "device"):
            if r.get(key) is not None:
                ET.SubElement(props, "property", name=f"{r.get('class', 'target')}.{key}",
                              value=str(r[key]))  # fmt: skip
    for c in cases:
        el = ET.SubElement(node, "testcase", classname=c["classname"], name=_clean(c["name"]),
                           time=f"{c['time']:.3f}")  # fmt: skip
        if c["outcome"] in ("failure", "error"):
            child = ET.SubElement(el, c["outcome"], message=_clean(c["message"]))
            child.set("type", "NonConformance" if c["outcome"] == "failure" else "UsageError")
            child.text = _clean(c["text"])
        elif c["outcome"] == "skipped":
            ET.SubElement(el, "skipped", message=_clean(c["message"]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode")


def write_junit(path: str | Path, reports: Report | Sequence[Report]) -> Path:
    """Write :func:`junit_xml` to ``path`` (folders created); the path written."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(junit_xml(reports) + "\n", encoding="utf-8")
    return out


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _class_location(report: Report) -> tuple[str, int | None] | None:
    """(file, line of ``class Name``) when the target is a file that exists."""
    target = str(report.get("target") or "")
    where, sep, attr = target.rpartition(":")
    if not sep or not where.endswith(".py") or not Path(where).is_file():
        return None
    name = attr.rpartition(".")[2]
    pattern = re.compile(rf"^\s*class\s+{re.escape(name)}\b")
    try:
        for number, line in enumerate(Path(where).read_text(encoding="utf-8").splitlines(), 1):
            if pattern.match(line):
                return where, number
    except (OSError, UnicodeDecodeError):
        return where, None
    return where, None


def github_annotations(report: Report, target: str | None = None) -> list[str]:
    """The workflow commands for one report: ``::error`` for a mismatch or an error, none when
    it conforms."""
    verdict = report.get("verdict")
    if verdict == "conforms":
        return []
    named = report.get("target") or target
    shown = named or "optverify check"
    if verdict == "error":
        title = f"optverify check{' ' + named if named else ''}: usage or loading error"
        return [
            f"::error title={_escape_property(title)}::{_escape_data(str(report.get('error')))}"
        ]
    title = f"optverify: {report.get('class', shown)} does not conform to {report.get('against')}"
    props = [f"title={_escape_property(title)}"]
    located = _class_location(report)
    if located is not None:
        props.insert(0, f"file={_escape_property(located[0])}")
        if located[1] is not None:
            props.insert(1, f"line={located[1]}")
    ce = report.get("counterexample") or {}
    body = str(report.get("summary", "mismatch"))
    if ce.get("rerun"):
        body += f"\nrerun: {ce['rerun']}"
    return [f"::error {','.join(props)}::{_escape_data(body)}"]


def emit_github_annotations(
    reports: Report | Sequence[Report],
    stream: TextIO | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Write the annotations of ``reports`` to ``stream`` (default stdout) when
    ``GITHUB_ACTIONS`` is ``true`` in ``env`` (default the process environment); the number
    of lines written."""
    if (os.environ if env is None else env).get("GITHUB_ACTIONS") != "true":
        return 0
    out = sys.stdout if stream is None else stream
    lines = [line for r in _reports(reports) for line in github_annotations(r)]
    for line in lines:
        out.write(line + "\n")
    out.flush()
    return len(lines)
