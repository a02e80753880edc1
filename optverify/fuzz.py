"""``optverify fuzz``: long property-based campaigns on Ray workers, failures shared in Redis.

::

    optverify fuzz path/to/file.py:MyAdam --against Adam --workers 2 --examples 20000 \\
        --db redis://127.0.0.1:6379/0
    optverify fuzz --all-ours --dtype float64,float32,bfloat16 --duration 3600 \\
        --ray-address 10.0.0.1:6379 --db redis://10.0.0.2:6379/0
    optverify fuzz --targets pairs.txt ...     # one "TARGET REFERENCE" per line

The work is split into tasks, one (target, reference, dtype) and one seed range each
(:mod:`optverify.campaign.plan`), run as Ray tasks (:mod:`optverify.campaign.worker`): each
is ``check``'s own run (same property, probe, deadline, shrinking, report) with a seed of
its own. ``--examples N`` is per (target, reference, dtype); ``--duration`` bounds the wall
time instead. Progress (examples, examples/s, findings) streams to stderr. A finding stops
its (target, reference) at once (the other pairs go on) and is printed exactly as ``check``
prints it: the verdict, the counterexample and a reproducing script. Exit 0 no finding,
1 findings, 2 a usage problem, an unreachable Ray or Redis (one line, before any work) or a
task lost after its retries.

With ``--db`` every worker writes to the shared Hypothesis example database: a failure is
saved the moment it is found (before shrinking) and every later run for the same (target,
reference, dtype, pins, options), any worker's or a developer's ``check --db`` (the dtype
set must match: ``--dtype float32``), replays it before generating anything. A worker
killed mid-task (SIGKILL, lost node) loses nothing: Ray reruns its task (``max_retries``);
the rerun replays the stored failure, or regenerates the same examples from the same seed.

Cost and a 100-worker cluster run
---------------------------------
Measured on a 2-core machine shared with other jobs (load average 5-15): Adam against
torch's Adam (three torch implementations each run in lock step with the target, one
example in twenty runs 260 steps), float64 and float32, 250 examples a task, the
edge-value sweep each task ends with (50 problems) included. Back to back, 240 s each: one
worker 17.6 examples/s, two workers 26.9 examples/s (1.5x: the second core is shared).
A 20 000-example two-worker campaign: 1 004 s, 19.9 examples/s, 0 findings. The cost is
0.05-0.14 worker-seconds an example depending on the load: 1e5 worker-seconds (28
worker-hours) per 10**6 examples is the planning figure. The campaign's summary prints this
cost for every run (``worker_seconds_per_million`` in JSON): measure each optimiser with a
short ``--duration`` run before sizing a long one.

All 15 optimisers x 6 dtypes x 10**6 examples: complex dtypes apply to the 12 optimisers
that take them, so ``--all-ours`` makes 84 (target, reference, dtype) combinations and
8.4e7 examples. At 0.1 worker-seconds an example that is 8.4e6 worker-seconds: 100
single-core workers take about 23 hours (budget 30: LBFGS's closures cost more, SGD less).
Plan:

* ``ray up`` a cluster of 100 CPUs (e.g. 25 x 4-core nodes; one core per task, torch pinned
  to one thread), optverify installed on every node in the same version (the database keys
  hash the property's source: mixed versions do not share stored failures), and the
  target files at the same paths (or installed as modules);
* one Redis 7 server reachable from every node (a small instance; see the keys below);
* ``optverify fuzz --all-ours --dtype float64,float32,bfloat16,float16,complex128,complex64
  --examples 1000000 --workers 100 --ray-address HEAD:6379 --db redis://REDIS:6379/0``:
  500 examples a task, 2 000 tasks per combination, 1.7e5 tasks of ~50 s each, submitted
  lazily (``workers + 1`` in flight) so the driver holds little; the progress line and the
  per-combination summary are the run's log; Ctrl-C or SIGTERM ends it with the summary of
  what finished;
* combinations that do not apply (a dtype an optimiser is not checked at) are skipped with
  a note; a finding stops its pair (the others go on) and is printed with its repro script;
  a lost node costs the tasks running on it, rerun by Ray (``max_retries=3``).

Database keys stay bounded. Hypothesis writes up to three Redis sets per (target,
reference, dtype, pins, options): the failures (one per worker that found one before the
campaign stopped the pair), the ``secondary`` corpus (each failure a shrink step replaced:
tens to a few hundred per finding, bounded by ``--shrink-time``; the next run that fails
there retries the smaller ones and deletes them) and the ``pareto`` front (empty here: no
``target()`` calls). Passing tasks write nothing. So the run touches at most 84 x 3 = 252
keys, all under ``optverify:examples:``, and only the pairs with a finding hold anything:
a choice sequence is a few hundred bytes to a few kB, so a finding costs well under 1 MB.
A stored failure that stops failing is deleted by the next writable run, and every key
expires 8 days after its last use (``RedisExampleDatabase``'s TTL, refreshed by every read
and write): keys = combinations x 3 at most, and a combination that nobody runs for a
week disappears. ``redis-cli --scan --pattern 'optverify:examples:*'`` lists them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from optverify.campaign.plan import Combo, Pair, Task
from optverify.campaign.progress import Progress
from optverify.campaign.worker import TaskOptions, TaskResult, run_task
from optverify.check import DTYPE_NAMES, CheckError

__all__ = ["Campaign", "connect_ray", "prepare", "register", "run_campaign", "run_fuzz"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
_PROG = "optverify fuzz"

#: Ray reruns a task whose worker died this many times before the task counts as lost
TASK_RETRIES = 3


# ---------------------------------------------------------------------------------------------
# the command line


def register(subparsers: Any) -> None:
    """Add ``fuzz`` to an ``argparse`` subparsers object."""
    from optverify.check import nonnegative_float, positive_int

    p = subparsers.add_parser(
        "fuzz",
        help="long campaigns of check's property on Ray workers (exit 0/1/2)",
        description=(
            "Run check's property for many examples on Ray workers, sharing failures in a "
            "Hypothesis example database: exit 0 no finding, 1 findings, 2 usage problem."
        ),
    )
    p.add_argument("target", nargs="?", metavar="TARGET", help="as for check")
    p.add_argument("--against", metavar="NAME", help="the torch optimiser (with TARGET)")
    p.add_argument("--all-ours", action="store_true", help="every optimiser of optverify")
    p.add_argument(
        "--all-torch",
        action="store_true",
        help="torch's own classes: foreach and fused against the for-loop path",
    )
    p.add_argument(
        "--targets", metavar="FILE", help='pairs from FILE, one "TARGET REFERENCE" a line'
    )
    p.add_argument(
        "--dtype",
        default=None,
        metavar="DTYPE[,DTYPE]",
        help=f"dtypes, each a combination of its own ({', '.join(DTYPE_NAMES)}; "
        "default float64,float32)",
    )
    budget = p.add_mutually_exclusive_group()
    budget.add_argument(
        "--examples",
        type=positive_int,
        default=None,
        help="examples per target, reference and dtype (default 1000)",
    )
    budget.add_argument(
        "--duration", type=_positive_float, default=None, metavar="SECONDS", help="wall time"
    )
    p.add_argument(
        "--workers", type=positive_int, default=None, help="tasks at once (default: CPUs)"
    )
    p.add_argument(
        "--ray-address", default=None, metavar="ADDR", help="a Ray cluster (HOST:PORT, auto)"
    )
    p.add_argument(
        "--db", default=None, metavar="URL", help="example database: redis://HOST:PORT/N or a dir"
    )
    p.add_argument("--chunk", type=positive_int, default=None, help="examples per task")
    p.add_argument("--seed", type=int, default=None, help="base seed (default: random)")
    p.add_argument(
        "--set", dest="pins", action="append", default=[], metavar="KEY=VALUE", help="as check"
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--timeout", type=nonnegative_float, default=60.0, metavar="SECONDS")
    p.add_argument("--shrink-time", type=nonnegative_float, default=30.0, metavar="SECONDS")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--no-validation", action="store_true")
    p.add_argument("--ignore-state", default="", metavar="KEY[,KEY]")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--progress", action="store_true", help="progress even off a terminal")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="tracebacks")
    p.set_defaults(func=run_fuzz)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0: {text}")
    return value


# ---------------------------------------------------------------------------------------------
# checking everything before any work starts


@dataclass
class Campaign:
    """A validated campaign: what to run, with what, where findings go."""

    combos: list[Combo]
    options: TaskOptions
    per_combo: int | None
    duration: float | None
    workers: int
    chunk: int
    seed: int
    notes: list[str] = field(default_factory=list)


def _pairs(args: argparse.Namespace) -> list[Pair]:
    from optverify.campaign import plan

    pairs: list[Pair] = []
    if args.target is not None:
        if not args.against:
            raise CheckError("TARGET needs --against NAME")
        pairs.append(Pair(args.target, args.against))
    elif args.against:
        raise CheckError("--against goes with a TARGET")
    if args.all_ours:
        pairs += plan.all_ours()
    if args.all_torch:
        pairs += plan.all_torch()
    if args.targets:
        pairs += plan.read_list_file(args.targets)
    if not pairs:
        raise CheckError("nothing to fuzz: give TARGET --against NAME, --all-ours, "
                         "--all-torch or --targets FILE")  # fmt: skip
    return list(dict.fromkeys(pairs))


def _absolute(target: str) -> str:
    """A file target with an absolute path (workers may start elsewhere)."""
    where, sep, attr = target.rpartition(":")
    if sep and (where.endswith(".py") or "/" in where or os.sep in where):
        return f"{Path(where).expanduser().resolve()}:{attr}"
    return target


def prepare(args: argparse.Namespace) -> Campaign:
    """Validate every pair, dtype and option, and reach the database: before any work."""
    from optverify import check
    from optverify.campaign import plan
    from optverify.campaign.database import open_database

    single = args.target is not None and not (args.all_ours or args.all_torch or args.targets)
    dtypes = plan.parse_dtype_list(args.dtype)
    pins = check.parse_pins(args.pins)
    combos: list[Combo] = []
    notes: list[str] = []
    for pair in _pairs(args):
        spec = check.resolve_against(pair.against)
        target = check.load_target(pair.target)
        check.check_pins(pins, target, spec, args.device)
        pair = Pair(_absolute(pair.target), spec.name)
        for dtype in dtypes:
            try:
                check.parse_dtypes(dtype, spec)
            except CheckError as error:
                if single:
                    raise
                notes.append(f"skipped {pair} --dtype {dtype}: {str(error).split(': ', 1)[-1]}")
                continue
            combos.append(Combo(pair, dtype))
    if not combos:
        raise CheckError("no (target, reference, dtype) combination to run")
    if args.db:
        open_database(args.db, read_only_shared=False)  # raises when it does not answer
    workers = args.workers or os.cpu_count() or 1
    per_combo = None if args.duration is not None else (args.examples or 1000)
    chunk = args.chunk or plan.chunk_size(per_combo, workers, len(combos))
    options = TaskOptions(
        db_url=args.db, pins=tuple(args.pins), device=args.device, timeout=args.timeout,
        shrink_time=args.shrink_time, no_shrink=args.no_shrink,
        no_validation=args.no_validation, ignore_state=args.ignore_state, cwd=os.getcwd(),
    )  # fmt: skip
    seed = args.seed if args.seed is not None else random.getrandbits(32)
    return Campaign(combos, options, per_combo, args.duration, workers, chunk, seed, notes)


def _probe_address(address: str) -> None:
    """A TCP connection to HOST:PORT (``ray://HOST:PORT`` too) within three seconds."""
    text = address if "://" in address else f"tcp://{address}"
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise CheckError(f"--ray-address {address}: expected HOST:PORT, ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host, port), timeout=3.0):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise CheckError(f"--ray-address {address}: nothing answers there ({reason})") from None


def connect_ray(address: str | None, workers: int) -> bool:
    """Start a local Ray instance of ``workers`` CPUs, or connect to ``address``; ``True``
    when this call started or connected it (and must shut it down). An instance already
    running in this process is used as it is."""
    try:
        import ray
    except ImportError:
        raise CheckError("fuzz needs Ray: pip install 'optverify[distributed]'") from None
    if address is not None and address != "auto":
        _probe_address(address)
    if ray.is_initialized():
        return False
    quiet: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
    try:
        if address is not None:
            ray.init(address=address, **quiet)
        else:
            ray.init(
                num_cpus=workers, include_dashboard=False, _node_ip_address="127.0.0.1", **quiet
            )
    except Exception as error:
        where = f"--ray-address {address}" if address else "local Ray"
        first = str(error).strip().splitlines()
        why = first[0] if first else type(error).__name__
        raise CheckError(f"{where}: cannot connect ({why})") from None
    return True


# ---------------------------------------------------------------------------------------------
# running it


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
    _cancel(list(report.pending))
    report.pending.clear()
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
            _cancel(list(pending))
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
                _cancel(list(pending))
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
                _cancel(doomed)
                for r in doomed:
                    pending.pop(r)
        progress.update()


def _cancel(refs: list[Any]) -> None:
    import ray

    for ref in refs:
        with contextlib.suppress(Exception):  # already finished, or its worker is gone
            ray.cancel(ref, force=True)


# ---------------------------------------------------------------------------------------------
# output


def _summary_rows(campaign: Campaign, report: Report) -> list[dict[str, Any]]:
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


def _render_json(campaign: Campaign, report: Report, ray_address: str | None) -> dict[str, Any]:
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
        "combinations": _summary_rows(campaign, report),
        "findings": [r.finding.json for r in report.findings if r.finding is not None],
        "errors": report.errors,
        "notes": campaign.notes,
    }


def _render_text(campaign: Campaign, report: Report) -> str:
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
    for row in _summary_rows(campaign, report):
        lines.append(
            f"  {row['target']} --against {row['against']} --dtype {row['dtype']}: "
            f"{row['examples']} examples, {row['tasks']} tasks, {row['verdict']}"
        )
    for lost in report.lost:
        lines.append(f"  lost after {TASK_RETRIES} retries: {lost}")
    for note in campaign.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a batch system's stop) unwinds like Ctrl-C: Ray is shut down, not orphaned."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_fuzz(args: argparse.Namespace) -> int:
    """The ``fuzz`` handler: 0 no finding, 1 findings, 2 usage problem or lost work."""
    debug = bool(getattr(args, "debug", False))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started_ray = False
    failure: str | None = None
    # Ray's driver prints its workers' deaths (and, from a cluster, their logs) on stdout:
    # stdout stays the report's alone, so everything before it goes to stderr
    with contextlib.redirect_stdout(sys.stderr), _terminate_as_interrupt():
        try:
            campaign = prepare(args)
            started_ray = connect_ray(args.ray_address, campaign.workers)
            progress = Progress(show=args.progress or sys.stderr.isatty())
            report = run_campaign(campaign, progress)
        except CheckError as error:
            if debug:
                traceback.print_exc()
            first = str(error).strip().splitlines()
            failure = first[0] if first else type(error).__name__
        finally:
            if started_ray:
                import ray

                ray.shutdown()
    if failure is not None:
        print(f"{_PROG}: {failure}", file=sys.stderr)
        if args.format == "json":
            print(json.dumps({"verdict": "error", "error": failure}))
        return EXIT_USAGE
    progress.clear()
    if args.format == "json":
        print(json.dumps(_render_json(campaign, report, args.ray_address), indent=2))
    else:
        print(_render_text(campaign, report))
    for problem in report.errors:
        print(f"{_PROG}: {problem}", file=sys.stderr)
    for result in report.findings:
        assert result.finding is not None
        print(f"{_PROG}: {result.finding.headline}", file=sys.stderr)
    if report.stopped_by == "interrupted":
        print(f"{_PROG}: interrupted", file=sys.stderr)
        return 130
    if report.errors or report.lost:
        return EXIT_USAGE
    return EXIT_FINDINGS if report.findings else EXIT_CLEAN
