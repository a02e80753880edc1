"""A campaign's counters and its progress line on stderr.

``optverify fuzz: 12400 examples (+600 edge values), 41.3/s, 0 findings, 31/80 tasks,
2 busy, 300 s`` is rewritten in place on a terminal (five times a second at most) and
printed as a new line every ``interval`` seconds otherwise.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from optverify.campaign.plan import Combo

__all__ = ["ComboStats", "Progress"]


@dataclass
class ComboStats:
    """One (target, reference, dtype): what its finished tasks did."""

    examples: int = 0
    edge_cases: int = 0
    tasks: int = 0
    #: worker-seconds spent in its tasks (the cost)
    seconds: float = 0.0
    finding: str | None = None


@dataclass
class Progress:
    """Counters of finished tasks, and the line that shows them."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    show: bool = True
    interval: float = 5.0
    total_tasks: int | None = None
    started: float = field(default_factory=time.monotonic)
    examples: int = 0
    edge_cases: int = 0
    tasks_done: int = 0
    busy: int = 0
    findings: int = 0
    lost_tasks: int = 0
    worker_seconds: float = 0.0
    #: examples and worker-seconds of the tasks that found nothing (no shrinking): the cost
    clean_examples: int = 0
    clean_seconds: float = 0.0
    combos: dict[Combo, ComboStats] = field(default_factory=dict)
    _last: float = 0.0
    _shown: bool = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Examples per second of wall time since the start."""
        return self.examples / self.elapsed if self.elapsed > 0 else 0.0

    def seconds_per_million(self) -> float | None:
        """Worker-seconds per 10**6 examples of the tasks that found nothing (a finding's
        task also shrinks); ``None`` before such a task has finished."""
        return self.clean_seconds / self.clean_examples * 1e6 if self.clean_examples else None

    def record(
        self, combo: Combo, examples: int, edge_cases: int, seconds: float, finding: str | None
    ) -> None:
        stats = self.combos.setdefault(combo, ComboStats())
        stats.examples += examples
        stats.edge_cases += edge_cases
        stats.tasks += 1
        stats.seconds += seconds
        if finding is not None and stats.finding is None:
            stats.finding = finding
        self.examples += examples
        self.edge_cases += edge_cases
        self.worker_seconds += seconds
        self.tasks_done += 1
        if finding is not None:
            self.findings += 1
        else:
            self.clean_examples += examples
            self.clean_seconds += seconds

    def line(self) -> str:
        tasks = f"{self.tasks_done}" + (f"/{self.total_tasks}" if self.total_tasks else "")
        edges = f" (+{self.edge_cases} edge values)" if self.edge_cases else ""
        lost = f", {self.lost_tasks} lost" if self.lost_tasks else ""
        return (
            f"optverify fuzz: {self.examples} examples{edges}, {self.rate:.1f}/s, "
            f"{self.findings} finding{'s' if self.findings != 1 else ''}, {tasks} tasks"
            f"{lost}, {self.busy} busy, {self.elapsed:.0f} s"
        )

    def update(self, *, force: bool = False) -> None:
        if not self.show:
            return
        tty = self.stream.isatty()
        now = time.monotonic()
        if not force and now - self._last < (0.2 if tty else self.interval):
            return
        self._last = now
        if tty:
            self.stream.write("\r\x1b[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self.show and self._shown and self.stream.isatty():
            self.stream.write("\r\x1b[K")
            self.stream.flush()
