"""One task of a campaign, as a worker runs it: ``check``'s own run on a seed range.

:func:`run_task` is an ordinary function (Ray wraps it in :mod:`optverify.campaign.runner`;
tests call it directly). It runs :func:`optverify.check.execute` (the layout probe, the per-example
deadline, shrinking, the edge-value sweep: everything ``check`` does) inside
:func:`optverify.properties.conformance.using_database`, so Hypothesis replays the stored
failures of the task's (target, reference, dtype) first and saves a new failure to the shared
database the moment it is found, before shrinking: a worker killed afterwards loses nothing
(the retried task replays it), and a worker killed before it is found reruns the same seed.
A finding comes back rendered by ``check``'s own functions, text and JSON.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from optverify.campaign.plan import Task

if TYPE_CHECKING:
    from hypothesis.database import ExampleDatabase

    from optverify.check import Outcome

__all__ = ["Finding", "TaskOptions", "TaskResult", "render_finding", "run_task"]


@dataclass(frozen=True)
class TaskOptions:
    """What every task of a campaign shares (``check``'s options)."""

    db_url: str | None = None
    pins: tuple[str, ...] = ()
    device: str = "cpu"
    timeout: float = 60.0
    shrink_time: float = 30.0
    no_shrink: bool = False
    no_validation: bool = False
    ignore_state: str = ""
    #: the driver's working directory: relative module targets import from there, as in check
    cwd: str | None = None


@dataclass(frozen=True)
class Finding:
    """A mismatch as ``check`` reports it."""

    text: str
    json: dict[str, Any]
    headline: str
    seed: int
    found_after: int | None


@dataclass
class TaskResult:
    """What a task did: examples run (to the first failure, where one was found)."""

    task: Task
    examples: int = 0
    edge_cases: int = 0
    seconds: float = 0.0
    pid: int = 0
    finding: Finding | None = None
    #: a one-line usage or loading problem (the campaign stops with exit 2)
    error: str | None = None
    notes: list[str] = field(default_factory=list)


_DATABASES: dict[str, ExampleDatabase] = {}


def _database(url: str) -> ExampleDatabase:
    """One connection per worker process and URL, reused by its later tasks."""
    from optverify.campaign.database import open_database

    if url not in _DATABASES:
        _DATABASES[url] = open_database(url, read_only_shared=False)
    return _DATABASES[url]


def check_namespace(task: Task, options: TaskOptions) -> argparse.Namespace:
    """The arguments ``optverify check`` would parse for this task."""
    return argparse.Namespace(
        target=task.combo.pair.target,
        against=task.combo.pair.against,
        pins=list(options.pins),
        max_examples=task.examples,
        seed=task.seed,
        device=options.device,
        dtype=task.combo.dtype,
        timeout=options.timeout,
        shrink_time=options.shrink_time,
        no_shrink=options.no_shrink,
        no_validation=options.no_validation,
        ignore_state=options.ignore_state,
        db=None,  # the worker's database comes from using_database (writable, shared)
        format="text",
        progress=False,
        debug=False,
    )


def render_finding(outcome: Outcome, *, notes: Sequence[str] = ()) -> Finding:
    """``check``'s report of a mismatch (text with the repro script, and JSON)."""
    from optverify import check

    assert outcome.problem is not None
    outcome.notes.extend(notes)
    _, text, report = check.render_outcome(outcome)
    return Finding(
        text=text,
        json=report,
        headline=check.headline(outcome),
        seed=outcome.seed,
        found_after=outcome.found_after,
    )


def run_task(task: Task, options: TaskOptions) -> TaskResult:
    """Run one task; usage problems come back as ``error`` (never raised)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from optverify import check
    from optverify.properties.conformance import using_database

    torch.set_num_threads(1)
    if options.cwd and os.path.isdir(options.cwd) and os.getcwd() != options.cwd:
        os.chdir(options.cwd)
    result = TaskResult(task, pid=os.getpid())
    start = time.perf_counter()
    try:
        database = _database(options.db_url) if options.db_url else None
        with using_database(database):
            outcome = check.execute(check_namespace(task, options))
    except check.CheckError as error:
        result.error = str(error).strip().splitlines()[0] if str(error).strip() else "error"
        result.seconds = time.perf_counter() - start
        return result
    result.seconds = time.perf_counter() - start
    if outcome.conforms:
        result.examples = outcome.examples
        result.edge_cases = outcome.summary.edge_cases if outcome.summary else 0
        return result
    result.examples = outcome.found_after or outcome.examples
    notes = []
    if options.db_url:
        from optverify.campaign.database import redact

        notes.append(
            f"saved in the example database {redact(options.db_url)}: add --db "
            f"{redact(options.db_url)} to the rerun command to replay it first"
        )
    result.finding = render_finding(outcome, notes=notes)
    return result
