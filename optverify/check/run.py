"""Running ``optverify check``: validate the arguments, then the conformance property.

:func:`execute` turns parsed arguments into an :class:`Outcome`; it runs
:func:`optverify.properties.conformance.assert_conforms` (the same code path as a pytest
suite's call, with the same defaults) under the :class:`~optverify.check.watch.Watch`.
Usage problems raise :class:`~optverify.check.loading.CheckError` before torch does any work.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optverify.check.loading import (
    MODE_FLAGS,
    CheckError,
    LoadedTarget,
    check_pins,
    load_target,
    parse_dtypes,
    parse_pins,
    resolve_against,
)
from optverify.check.watch import ExampleTimeout, ShrinkTimeUp, Watch

if TYPE_CHECKING:
    from optverify.properties.conformance import NonConformance, Summary
    from optverify.properties.harness import Problem
    from optverify.properties.layout import Layout
    from optverify.properties.specs import Spec
    from optverify.properties.verdict import Finding

__all__ = ["Outcome", "execute"]


@dataclass
class Outcome:
    """What one ``check`` run found."""

    target: LoadedTarget
    spec: Spec
    pins: dict[str, Any]
    seed: int
    device: str
    dtypes: tuple[str, ...]
    layout: Layout
    seconds: float
    examples: int
    varied: list[str]
    not_varied: list[str]
    modes: tuple[str, ...]
    init: dict[str, Any] = field(default_factory=dict)
    ignore_state: tuple[str, ...] = ()
    strict: bool = False
    summary: Summary | None = None
    problem: Problem | None = None
    finding: Finding | None = None
    mode: str | None = None
    hung: ExampleTimeout | None = None
    found_after: int | None = None
    shrink_runs: int = 0
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    #: options beyond target, --against, --seed and --set that the rerun command repeats
    options: list[str] = field(default_factory=list)

    @property
    def conforms(self) -> bool:
        return self.problem is None and not self.interrupted

    @property
    def divergence(self) -> Finding | None:
        """The finding, under its older name."""
        return self.finding


def _warning_notes(caught: Sequence[warnings.WarningMessage]) -> list[str]:
    """Warnings raised while checking (the target's, mostly), one note per distinct message;
    optverify's own classes' warnings (they mirror torch's) are not the target's business."""
    counts: dict[str, int] = {}
    own = str(Path(__file__).resolve().parents[2])
    for w in caught:
        if f"{os.sep}hypothesis{os.sep}" in w.filename or w.filename.startswith(own):
            continue
        lines = str(w.message).strip().splitlines()
        where = f"{Path(w.filename).name}:{w.lineno}"
        text = f"{w.category.__name__}: {lines[0] if lines else ''} ({where})"
        counts[text] = counts.get(text, 0) + 1
    return [f"warning, {n} time(s): {text}" for text, n in list(counts.items())[:5]]


def _record_failure(outcome: Outcome, failure: NonConformance) -> None:
    outcome.problem, outcome.finding, outcome.mode = (
        failure.problem, failure.finding, failure.mode,
    )  # fmt: skip
    layout = getattr(failure, "layout", None)
    if layout is not None:
        outcome.layout = layout


def execute(args: argparse.Namespace) -> Outcome:
    """Validate the arguments, load the target and run the property."""
    import torch

    from optverify import config
    from optverify.properties.conformance import (
        NonConformance,
        TargetUsageError,
        accepted_hyperparameters,
        assert_conforms,
        default_dtypes,
        find_nonconformance,
        modes_for,
        target_domain,
    )
    from optverify.properties.layout import Layout

    given_ignore = getattr(args, "ignore_state", None)
    merged = config.settings_for(
        args.target,
        {
            "against": args.against, "max_examples": args.max_examples, "seed": args.seed,
            "dtypes": args.dtype.split(",") if args.dtype else None,
            "ignore_state": given_ignore.split(",") if given_ignore else None,
            "pins": parse_pins(args.pins),
            "init": parse_pins(getattr(args, "init", []) or [], option="--init"),
        },
    )  # fmt: skip
    adapter = args.target.partition(":")[0] in ("optax", "keras")
    target = load_target(args.target) if adapter else None
    against = merged.against or (getattr(target.cls, "COUNTERPART", None) if target else None)
    if against is None:
        raise CheckError(
            f'--against NAME is required (or against = "..." in [tool.optverify.targets."'
            f'{args.target}"] of pyproject.toml)'
        )
    args.against, args.seed = against, merged.seed
    args.max_examples = merged.max_examples or config.DEFAULT_MAX_EXAMPLES
    args.dtype, args.ignore_state = merged.dtype_text, merged.ignore_state_text
    spec = resolve_against(args.against)
    pins = dict(merged.pins)
    init = dict(merged.init)
    dtypes = parse_dtypes(args.dtype, spec)
    if args.device == "cuda" and not torch.cuda.is_available():
        why = "this torch build has no CUDA" if torch.version.cuda is None else "none is visible"
        raise CheckError(f"--device cuda: no CUDA device is available ({why}); use --device cpu")
    if target is None:
        target = load_target(args.target)
    validation = not args.no_validation
    notes: list[str] = []
    if target.kind == "adapter":
        from optverify.adapters import AdapterError, pins_for

        try:
            pins = pins_for(target.cls, spec.name, pins)
        except AdapterError as error:
            raise CheckError(str(error)) from None
        if validation:
            validation = False
            notes.append(
                f"{target.text}: the library does not validate hyperparameters as torch does; "
                "the validation check is off (accepting what torch rejects is reported only)"
            )
        if pins:
            shown = ", ".join(f"{k}={v!r}" for k, v in pins.items())
            notes.append(f"pinned to what the library can express: {shown}")
        # the adapters drive real dense tensors (reported, not drawn): one rule with
        # assert_conforms, declared by the shell class
        domain_dtypes, domain_sparse, left_out = target_domain(target.cls, spec)
        args.no_sparse = args.no_sparse or not domain_sparse
        if dtypes is None:
            dtypes = domain_dtypes
        notes.append(
            f"{target.text}: {', '.join(str(d).removeprefix('torch.') for d in left_out)} "
            f"and sparse gradients not drawn "
            f"(dtypes {', '.join(str(d).removeprefix('torch.') for d in dtypes)})"
        )
    check_pins(pins, target, spec, args.device)
    database = None
    if getattr(args, "db", None):
        from optverify.campaign.database import open_database

        database = open_database(args.db, read_only_shared=True)
    clash = sorted(set(init) & set(pins))
    if clash:
        raise CheckError(f"--init {clash[0]}: also given with --set; give it once")
    seed = args.seed if args.seed is not None else random.getrandbits(32)
    accepted = accepted_hyperparameters(target.cls)
    reference_names = (accepted_hyperparameters(spec.reference) or set()) - MODE_FLAGS
    not_varied = sorted(reference_names - accepted) if accepted is not None else []
    ignore = tuple(k.strip() for k in args.ignore_state.split(",") if k.strip())
    shown_dtypes = tuple(
        str(d).removeprefix("torch.") for d in (dtypes or default_dtypes(spec))
    )  # fmt: skip
    watch = Watch(
        budget=args.max_examples,
        timeout=args.timeout,
        shrink_time=args.shrink_time,
        show_progress=args.progress or sys.stderr.isatty(),
        target_file=target.source_file,
    )
    start = time.perf_counter()
    outcome = Outcome(
        target, spec, pins, seed, args.device, shown_dtypes, Layout(), 0.0, 0, [], not_varied,
        modes_for(spec, args.device), init, ignore, bool(getattr(args, "strict", False)),
    )  # fmt: skip
    for flag, value, default in (
        ("--max-examples", args.max_examples, 100), ("--device", args.device, "cpu"),
        ("--dtype", args.dtype, None), ("--ignore-state", args.ignore_state, ""),
    ):  # fmt: skip
        if value != default:
            outcome.options += [flag, str(value)]
    for key, value in init.items():
        from optverify.properties.source import value_code

        outcome.options += ["--init", f"{key}={value_code(value)}"]
    if outcome.strict:
        outcome.options.append("--strict")
    if args.no_validation:
        outcome.options.append("--no-validation")
    if getattr(args, "no_sparse", False):
        outcome.options.append("--no-sparse")
    if getattr(args, "contiguous", False):
        outcome.options.append("--contiguous")
    outcome.notes += notes
    if getattr(args, "db", None):
        outcome.options += ["--db", str(args.db)]
    if watch.deadline_note:
        outcome.notes.append(watch.deadline_note)
    from optverify import hints

    with watch, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hints.install_own_warning_filters()
        try:
            outcome.summary = assert_conforms(
                target.cls, spec.name, max_examples=args.max_examples, seed=seed,
                device=args.device, dtypes=dtypes, tolerance="faithful",
                shrink=not args.no_shrink, validation=validation,
                strict=outcome.strict, ignore_state=ignore, init=init,
                database=database,
                sparse=not getattr(args, "no_sparse", False),
                layouts=not getattr(args, "contiguous", False),
                around_example=watch.around, around_probe=watch.around_probe, **pins,
            )  # fmt: skip
        except TargetUsageError as error:
            key = error.missing[0] if error.missing else "KEY"
            text = str(error).split(": pass it with", 1)[0]
            raise CheckError(f"{text}: pass it with --init {key}=VALUE") from None
        except NonConformance as failure:
            _record_failure(outcome, failure)
            if failure.unreliable:
                outcome.notes.append(
                    "the failure did not reproduce on a rerun: the target is not "
                    "deterministic; reported is the first failing example"
                )
        except ShrinkTimeUp:
            last = watch.last_failure
            assert last is not None
            _record_failure(outcome, last)
            outcome.notes.append(
                f"shrinking stopped after --shrink-time {args.shrink_time:g} s: the smallest "
                "counterexample found so far"
            )
        except ExampleTimeout as hung:
            outcome.hung = hung
            outcome.problem = hung.problem or watch.current
        except KeyboardInterrupt:
            outcome.interrupted = True
            if watch.last_failure is not None:
                _record_failure(outcome, watch.last_failure)
                outcome.notes.append("interrupted while shrinking: the smallest so far")
        except Exception as error:
            seen = find_nonconformance(error) or watch.last_failure
            if seen is None:
                raise
            _record_failure(outcome, seen)
            outcome.notes.append(
                f"the failure did not reproduce on a rerun ({type(error).__name__}): the target "
                "is not deterministic; reported is the first failing example"
            )
    outcome.seconds = time.perf_counter() - start
    outcome.notes += _warning_notes(caught)
    if outcome.summary is not None:
        outcome.examples = outcome.summary.examples
        if outcome.summary.layout is not None:
            outcome.layout = outcome.summary.layout
    else:
        outcome.examples = watch.examples
    outcome.found_after = watch.found_after
    outcome.shrink_runs = watch.shrink_runs
    varied = set(outcome.summary.varied) if outcome.summary else watch.keys_seen
    outcome.varied = sorted(set(varied) - set(pins) - set(init))
    return outcome
