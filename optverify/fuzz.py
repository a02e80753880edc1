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

The campaign's parts are in :mod:`optverify.campaign`: :mod:`~optverify.campaign.prepare`
(checking everything before any work starts), :mod:`~optverify.campaign.runner` (running it
on Ray) and :mod:`~optverify.campaign.summary` (the output).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import Any

from optverify.campaign.prepare import Campaign, connect_ray, prepare
from optverify.campaign.progress import Progress
from optverify.campaign.runner import run_campaign
from optverify.campaign.summary import render_json, render_text
from optverify.check import DTYPE_NAMES, CheckError

__all__ = ["Campaign", "connect_ray", "prepare", "register", "run_campaign", "run_fuzz"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
_PROG = "optverify fuzz"


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
        print(json.dumps(render_json(campaign, report, args.ray_address), indent=2))
    else:
        print(render_text(campaign, report))
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
