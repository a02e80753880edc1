"""A campaign's work: pairs (target, reference) × dtypes × seed ranges, as tasks.

Every task runs ``check``'s property on one (target, reference, dtype) with its own seed
for ``examples`` examples. Tasks come out round-robin over the pairs and dtypes (the first
task of every combination before the second of any), so that the stored failures of every
combination, which each task replays before it generates anything, are tried first.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from optverify.check import DTYPE_NAMES, CheckError

__all__ = [
    "DEFAULT_DTYPES",
    "Combo",
    "Pair",
    "Task",
    "all_ours",
    "all_torch",
    "chunk_size",
    "read_list_file",
    "tasks",
]

#: ``check``'s default dtypes: each is a combination of its own
DEFAULT_DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class Pair:
    """A class under test and the torch optimiser it must behave like."""

    target: str
    against: str

    def __str__(self) -> str:
        return f"{self.target} --against {self.against}"


@dataclass(frozen=True)
class Combo:
    """A pair at one dtype: one Hypothesis database key, one line of the summary."""

    pair: Pair
    dtype: str

    def __str__(self) -> str:
        return f"{self.pair} --dtype {self.dtype}"


@dataclass(frozen=True)
class Task:
    """``examples`` examples of ``combo`` from ``seed``; ``index`` counts the combo's tasks."""

    combo: Combo
    index: int
    seed: int
    examples: int


def all_ours() -> list[Pair]:
    """Every optimiser of this package against its torch reference."""
    from optverify.properties.specs import SPECS

    return [
        Pair(f"{spec.ours.__module__}:{spec.ours.__qualname__}", spec.name)
        for spec in SPECS.values()
    ]


def all_torch() -> list[Pair]:
    """torch's own classes against themselves: each of torch's other implementations
    (foreach, fused) must agree with its for-loop path."""
    from optverify.properties.specs import SPECS

    return [
        Pair(f"{spec.reference.__module__}:{spec.reference.__qualname__}", spec.name)
        for spec in SPECS.values()
    ]


def read_list_file(path: str) -> list[Pair]:
    """Pairs from a file: one ``TARGET REFERENCE`` per line (``#`` starts a comment)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CheckError(f"--targets {path}: cannot read it: {error.strerror or error}") from None
    pairs = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) == 3 and fields[1] == "--against":
            fields = [fields[0], fields[2]]
        if len(fields) != 2:
            raise CheckError(
                f"--targets {path}, line {number}: expected TARGET REFERENCE, got {line!r}"
            )
        pairs.append(Pair(fields[0], fields[1]))
    if not pairs:
        raise CheckError(f"--targets {path}: no TARGET REFERENCE line in it")
    return pairs


def parse_dtype_list(text: str | None) -> tuple[str, ...]:
    """``"float64,float32"`` -> names (each its own combination); ``None``: the default."""
    if text is None:
        return DEFAULT_DTYPES
    names = tuple(dict.fromkeys(n.strip().removeprefix("torch.") for n in text.split(",")))
    names = tuple(n for n in names if n)
    if not names:
        raise CheckError(f"--dtype {text!r}: name at least one of {', '.join(DTYPE_NAMES)}")
    for name in names:
        if name not in DTYPE_NAMES:
            raise CheckError(f"--dtype {name!r}: unknown; valid: {', '.join(DTYPE_NAMES)}")
    return names


def chunk_size(per_combo: int | None, workers: int, combos: int) -> int:
    """Examples per task: at least four tasks per worker where the budget allows (progress
    and retries stay fine-grained), 25 to 500 (each task pays Hypothesis's start-up and the
    edge-value sweep, a few seconds)."""
    if per_combo is None:  # a duration budget: short tasks, the clock is checked between them
        return 100
    chunk = -(-per_combo * combos // (4 * max(1, workers)))
    return min(per_combo, max(25, min(500, chunk)))


def task_seed(base: int, combo: Combo, index: int) -> int:
    """The seed of a combo's ``index``-th task: distinct per task, the same on every run."""
    tag = f"{combo.pair.target}|{combo.pair.against}|{combo.dtype}|{index}".encode()
    return (base + zlib.crc32(tag) * 0x9E3779B1) % 2**32


def tasks(
    combos: Sequence[Combo], *, per_combo: int | None, chunk: int, base_seed: int
) -> Iterator[Task]:
    """Round-robin over ``combos``; ``per_combo`` examples each (``None``: without end)."""
    for index in itertools.count():
        emitted = False
        for combo in combos:
            start = index * chunk
            if per_combo is not None and start >= per_combo:
                continue
            n = chunk if per_combo is None else min(chunk, per_combo - start)
            yield Task(combo, index, task_seed(base_seed, combo, index), n)
            emitted = True
        if not emitted:
            return
