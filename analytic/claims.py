"""The claim registry: one :class:`Claim` per row of ``CLAIMS.md``, plus the ``T.`` claims.

The rows live in :mod:`analytic.claim_rows_000_002` (notes 000 to 002) and
:mod:`analytic.claim_rows_003_004_torch` (notes 003, 004 and the ``T.`` claims); the claim
type and the checks collected from the topic modules in :mod:`analytic.claim_registry`. This
module decides them: ``decide_all`` runs the checks; a check that raises yields an
:class:`Undecided` row (``error``, or ``not-available`` when the notes are absent) instead
of crashing.
"""

from __future__ import annotations

import multiprocessing as mp
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

from optverify.analytic import claim_rows_000_002, claim_rows_003_004_torch
from optverify.analytic._common import NotesUnavailable
from optverify.analytic.claim_registry import CHECKS, NOTE, Claim, Outcome, Undecided
from optverify.analytic.verdict import Context, Evidence

__all__ = [
    "CHECKS",
    "CLAIMS",
    "NOTE",
    "Claim",
    "Outcome",
    "Undecided",
    "decide",
    "decide_all",
    "select",
]


#: every claim, in registry order (notes 000 to 004, then the ``T.`` claims)
CLAIMS: dict[str, Claim] = {
    c.id: c for c in (*claim_rows_000_002.ROWS, *claim_rows_003_004_torch.ROWS)
}


def decide(claim: Claim, ctx: Context) -> Outcome:
    """Run one claim's check; exceptions become an :class:`Undecided` row."""
    try:
        return claim.check(ctx)
    except NotesUnavailable as exc:
        return Undecided("not-available", str(exc))
    except Exception as exc:  # a failing check must not stop the run
        tb = traceback.format_exc(limit=4)
        return Undecided(
            "error",
            f"{type(exc).__name__}: {exc}",
            evidence=(Evidence(kind="text", title="traceback", text=tb),),
        )


#: rough cost in seconds on one core (measured), to start the longest checks first
COST = {
    "N001.rmsprop.alpha": 12.0,
    "N000.sgd.batch": 10.0,
    "N000.sgd.lr1": 5.0,
    "N002.opt.compare": 5.0,
    "N000.sgd.rule": 2.0,
}

Progress = Callable[[int, int, Claim, Outcome, float], None]


def select(only: str | None = None) -> list[Claim]:
    """The claims whose ID starts with ``only`` (all when ``None``; exactly that claim when
    ``only`` is a whole ID), in registry order."""
    if only is not None and only in CLAIMS:
        return [CLAIMS[only]]
    return [c for c in CLAIMS.values() if only is None or c.id.startswith(only)]


def _decide_timed(cid: str, ctx: Context) -> tuple[str, Outcome, float]:
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    out = decide(CLAIMS[cid], ctx)
    return cid, out, time.perf_counter() - start


def decide_all(
    ctx: Context,
    only: str | None = None,
    *,
    jobs: int = 1,
    progress: Progress | None = None,
) -> list[tuple[Claim, Outcome]]:
    """Decide every claim (or those whose ID starts with ``only``); rows in registry order.

    The checks are independent: with ``jobs > 1`` they run in a pool of that many worker
    processes, the costliest first. ``progress(k, n, claim, outcome, seconds)`` is called as
    each one finishes (in completion order).
    """
    claims = select(only)
    done: dict[str, tuple[Outcome, float]] = {}

    def record(cid: str, out: Outcome, seconds: float) -> None:
        done[cid] = (out, seconds)
        if progress is not None:
            progress(len(done), len(claims), CLAIMS[cid], out, seconds)

    if jobs <= 1 or len(claims) <= 1:
        for c in claims:
            record(*_decide_timed(c.id, ctx))
    else:
        order = sorted(claims, key=lambda c: -COST.get(c.id, 0.5))
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context(method)) as pool:
            futures = [pool.submit(_decide_timed, c.id, ctx) for c in order]
            for fut in as_completed(futures):
                record(*fut.result())
    return [(c, done[c.id][0]) for c in claims]
