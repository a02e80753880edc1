"""A finished campaign's summary: text for a person, JSON for a program.

Both list every (target, reference, dtype) combination with its examples, tasks and verdict,
the cost in worker-seconds per 10**6 examples, lost tasks and notes; the text puts each
finding (the verdict, the counterexample and a reproducing script) first.
"""

from __future__ import annotations

from typing import Any

from optverify.campaign.prepare import Campaign
from optverify.campaign.runner import TASK_RETRIES, Report

__all__ = ["render_json", "render_text", "summary_rows"]


def summary_rows(campaign: Campaign, report: Report) -> list[dict[str, Any]]:
    """One row per (target, reference, dtype): examples, edge cases, tasks, worker-seconds."""
    rows = []
    for combo in campaign.combos:
        stats = report.progress.combos.get(combo)
        rows.append({
            "target": combo.pair.target,
            "against": combo.pair.against,
            "dtype": combo.dtype,
            "examples": stats.examples if stats else 0,
            "edge_cases": stats.edge_cases if stats else 0,
            "tasks": stats.tasks if stats else 0,
            "worker_seconds": round(stats.seconds, 2) if stats else 0.0,
            "verdict": "mismatch" if stats and stats.finding else "no finding",
        })  # fmt: skip
    return rows


def render_json(campaign: Campaign, report: Report, ray_address: str | None) -> dict[str, Any]:
    """The summary as ``--format json`` prints it."""
    p = report.progress
    verdict = "error" if report.errors else ("mismatch" if report.findings else "no finding")
    if report.lost and verdict == "no finding":
        verdict = "incomplete"
    cost = p.seconds_per_million()
    return {
        "verdict": verdict,
        "examples": p.examples,
        "edge_cases": p.edge_cases,
        "tasks": p.tasks_done,
        "lost_tasks": report.lost,
        "seconds": round(p.elapsed, 3),
        "examples_per_second": round(p.rate, 3),
        "worker_seconds": round(p.worker_seconds, 3),
        "worker_seconds_per_million": None if cost is None else round(cost, 1),
        "workers": campaign.workers,
        "ray_address": ray_address,
        "chunk": campaign.chunk,
        "seed": campaign.seed,
        "stopped_by": report.stopped_by,
        "database": campaign.options.db_url,
        "combinations": summary_rows(campaign, report),
        "findings": [r.finding.json for r in report.findings if r.finding is not None],
        "errors": report.errors,
        "notes": campaign.notes,
    }


def render_text(campaign: Campaign, report: Report) -> str:
    """The summary as the text format prints it: the findings first, then one line a combo."""
    p = report.progress
    lines: list[str] = []
    for result in report.findings:
        assert result.finding is not None
        lines += [result.finding.text, ""]
    lines.append(
        f"fuzz: {p.examples} examples (+{p.edge_cases} edge values) in {p.elapsed:.1f} s, "
        f"{p.rate:.1f} examples/s on {campaign.workers} worker(s); {len(report.findings)} "
        f"finding(s); stopped by {report.stopped_by}"
    )
    cost = p.seconds_per_million()
    if cost is not None:
        lines.append(
            f"  cost: {cost:.3g} worker-seconds ({cost / 3600:.3g} worker-hours) per 10^6 examples"
        )
    for row in summary_rows(campaign, report):
        lines.append(
            f"  {row['target']} --against {row['against']} --dtype {row['dtype']}: "
            f"{row['examples']} examples, {row['tasks']} tasks, {row['verdict']}"
        )
    for lost in report.lost:
        lines.append(f"  lost after {TASK_RETRIES} retries: {lost}")
    for note in campaign.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)
