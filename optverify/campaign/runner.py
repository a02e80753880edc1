"""Running a prepared campaign on Ray: tasks submitted lazily, results collected as they come.

:func:`run_campaign` keeps ``workers + 1`` tasks in flight, stops a (target, reference) pair
at its first finding and everything at the budget (examples, ``--duration``, an error or
Ctrl-C), and returns a :class:`Report` of what happened.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from optverify.campaign.plan import Pair, Task
from optverify.campaign.prepare import Campaign
from optverify.campaign.progress import Progress
from optverify.campaign.worker import TaskResult, run_task

__all__ = ["TASK_RETRIES", "Report", "run_campaign"]

#: Ray reruns a task whose worker died this many times before the task counts as lost
TASK_RETRIES = 3

#: seconds a campaign waits, before it returns, for the workers of its cancelled tasks to
#: be gone (a cancel only asks Ray to kill them; until then they may still write examples)
CANCEL_WAIT = 30.0


@dataclass
class Report:
    """What a campaign found."""

    progress: Progress
    findings: list[TaskResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    stopped_by: str = "budget"
    #: tasks in flight: object reference -> task
    pending: dict[Any, Task] = field(default_factory=dict)
    #: tasks cancelled (their workers killed): waited for before the campaign returns
    cancelled: list[Any] = field(default_factory=list)


def _remote() -> Any:
    import ray

    return ray.remote(num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False)(run_task)


def run_campaign(campaign: Campaign, progress: Progress) -> Report:
    """Submit tasks lazily (``workers + 1`` in flight), collect results, stop a pair at its
    first finding, everything at the budget; returns what happened."""

    from optverify.campaign import plan

    remote = _remote()
    report = Report(progress)
    stopped: set[Pair] = set()
    upcoming: Iterator[Task] = plan.tasks(
        campaign.combos, per_combo=campaign.per_combo, chunk=campaign.chunk,
        base_seed=campaign.seed,
    )  # fmt: skip
    if campaign.per_combo is not None:
        progress.total_tasks = sum(
            -(-campaign.per_combo // campaign.chunk) for _ in campaign.combos
        )
    try:
        _drive(campaign, progress, report, remote, upcoming, stopped)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: what finished so far is the report
        report.stopped_by = "interrupted"
    _cancel(report, list(report.pending))
    report.pending.clear()
    _await_cancelled(report.cancelled)
    progress.busy = 0
    return report


def _drive(
    campaign: Campaign,
    progress: Progress,
    report: Report,
    remote: Any,
    upcoming: Iterator[Task],
    stopped: set[Pair],
) -> None:
    import ray

    pending = report.pending
    deadline = None if campaign.duration is None else time.monotonic() + campaign.duration
    exhausted = False
    pairs = {combo.pair for combo in campaign.combos}
    while True:
        exhausted = exhausted or stopped >= pairs
        out_of_time = deadline is not None and time.monotonic() >= deadline
        while not exhausted and not out_of_time and len(pending) <= campaign.workers:
            task = next((t for t in upcoming if t.combo.pair not in stopped), None)
            if task is None:
                exhausted = True
                break
            pending[remote.remote(task, campaign.options)] = task
        if out_of_time and pending:
            report.stopped_by = "duration"
            _cancel(report, list(pending))
            pending.clear()
        progress.busy = min(len(pending), campaign.workers)
        if not pending:
            break
        done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        for ref in done:
            task = pending.pop(ref)
            try:
                result: TaskResult = ray.get(ref)
            except ray.exceptions.TaskCancelledError:
                continue
            except ray.exceptions.RayError as error:
                progress.lost_tasks += 1
                first = str(error).strip().splitlines()
                report.lost.append(
                    f"{task.combo} task {task.index} (seed {task.seed}): "
                    f"{type(error).__name__}: {first[0] if first else ''}"
                )
                continue
            if result.error is not None:
                report.errors.append(f"{task.combo.pair}: {result.error}")
                report.stopped_by = "error"
                _cancel(report, list(pending))
                pending.clear()
                exhausted = True
                break
            finding = result.finding.headline if result.finding else None
            progress.record(task.combo, result.examples, result.edge_cases, result.seconds, finding)
            if result.finding is not None and task.combo.pair not in stopped:
                stopped.add(task.combo.pair)
                report.findings.append(result)
                report.stopped_by = "finding"
                doomed = [r for r, t in pending.items() if t.combo.pair in stopped]
                _cancel(report, doomed)
                for r in doomed:
                    pending.pop(r)
        progress.update()


def _cancel(report: Report, refs: list[Any]) -> None:
    """Ask Ray to kill the workers of ``refs`` (asynchronous: see :func:`_await_cancelled`)."""
    import ray

    for ref in refs:
        with contextlib.suppress(Exception):  # already finished, or its worker is gone
            ray.cancel(ref, force=True)
    report.cancelled.extend(refs)


def _await_cancelled(refs: list[Any], timeout: float = CANCEL_WAIT) -> None:
    """Return once every cancelled task has ended (its reference resolved: the task finished
    or its worker is dead), or after ``timeout`` seconds: a campaign that returns while a
    killed worker still shrinks a failure would let it write the example database after the
    caller has moved on (seen in CI: a stopped campaign's worker wrote its failure into
    Redis after the next test had emptied the database; and here: both workers of a
    campaign stopped by ``--duration`` still running when it returned)."""
    import ray

    if refs:
        # a second Ctrl-C while waiting ends the wait, not the report
        with contextlib.suppress(Exception, KeyboardInterrupt):
            ray.wait(refs, num_returns=len(refs), timeout=timeout)
