"""A campaign checked before any work starts: every pair, dtype and option, the database, Ray.

:func:`prepare` turns ``optverify fuzz``'s arguments into a :class:`Campaign` (or raises
:class:`~optverify.check.CheckError` with a one-line reason); :func:`connect_ray` starts a
local Ray instance or reaches a cluster, with a one-line error when nothing answers.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from optverify.campaign.plan import Combo, Pair
from optverify.campaign.worker import TaskOptions
from optverify.check import CheckError

__all__ = ["Campaign", "connect_ray", "prepare"]


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
