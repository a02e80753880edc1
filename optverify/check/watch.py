"""The watchdog of ``optverify check``: a per-example deadline, progress on stderr, and the
failures seen (so that an interrupted or time-limited run still reports what it found)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optverify.properties.conformance import NonConformance
    from optverify.properties.harness import Problem

__all__ = ["ExampleTimeout", "ShrinkTimeUp", "Watch"]

_PROG = "optverify check"


class ExampleTimeout(BaseException):
    """An example ran past the deadline (a BaseException: the harness must not catch it)."""

    def __init__(self, seconds: float, step: int | None, where: str | None) -> None:
        super().__init__(f"did not finish within {seconds:g} s")
        self.seconds, self.step, self.where = seconds, step, where
        self.problem: Problem | None = None


class ShrinkTimeUp(BaseException):
    """Shrinking ran past ``--shrink-time``: report the smallest counterexample so far."""


class Watch:
    """Entered around every example (``assert_conforms(around_example=...)``)."""

    def __init__(
        self,
        *,
        budget: int,
        timeout: float,
        shrink_time: float,
        show_progress: bool,
        target_file: str | None,
    ) -> None:
        self.budget, self.timeout, self.shrink_time = budget, timeout, shrink_time
        self.show_progress, self.target_file = show_progress, target_file
        self.tty = sys.stderr.isatty()
        self.examples = 0
        self.shrink_runs = 0
        self.keys_seen: set[str] = set()
        self.current: Problem | None = None
        self.first_failure_at: float | None = None
        self.found_after: int | None = None
        self.last_failure: NonConformance | None = None
        self.started = time.monotonic()
        self._last_shown = 0.0
        self._armed = False
        self._previous: Any = None
        self.deadline_note: str | None = None
        self._can_alarm = (
            timeout > 0
            and hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
        )
        if timeout > 0 and not self._can_alarm:
            self.deadline_note = "no per-example deadline here (needs the main thread on POSIX)"

    # -- signal handling
    def __enter__(self) -> Watch:
        if self._can_alarm:
            self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._can_alarm:
            self._disarm()
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
        self._clear_progress()

    def _disarm(self) -> None:
        self._armed = False
        signal.setitimer(signal.ITIMER_REAL, 0.0)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if not self._armed:
            return
        step, where = self._locate(frame)
        raise ExampleTimeout(self.timeout, step, where)

    def _locate(self, frame: FrameType | None) -> tuple[int | None, str | None]:
        """The lock-step loop's step and the innermost frame outside torch and optverify."""
        import torch

        library = (str(Path(torch.__file__).parent), str(Path(__file__).resolve().parents[2]))
        step: int | None = None
        where: str | None = None
        f = frame
        while f is not None:
            filename = f.f_code.co_filename
            if (
                where is None
                and (filename == self.target_file or not filename.startswith(library))
                and "hypothesis" not in filename
            ):
                where = f"{Path(filename).name}:{f.f_lineno} in {f.f_code.co_name}"
            if f.f_code.co_name in ("record", "run_lockstep", "run_problem") and "k" in f.f_locals:
                step = int(f.f_locals["k"])
                break
            f = f.f_back
        return step, where

    # -- the hooks
    def around_probe(self, problem: Problem) -> Any:
        """The deadline for the layout probe's runs (not counted as examples)."""
        return self.around(problem, count=False)

    @contextlib.contextmanager
    def around(self, problem: Problem, *, count: bool = True) -> Iterator[None]:
        """Deadline and progress for one example; records a :class:`NonConformance`."""
        from optverify.properties.conformance import NonConformance

        if count:
            from optverify import hints

            hints.EXAMPLES.add()
            self.examples += 1
            if self.first_failure_at is not None:
                self.shrink_runs += 1
                if time.monotonic() - self.first_failure_at > self.shrink_time:
                    raise ShrinkTimeUp()
            for hyper in problem.hyper:
                self.keys_seen.update(hyper)
            self._progress()
        self.current = problem
        if self._can_alarm:
            self._armed = True
            signal.setitimer(signal.ITIMER_REAL, self.timeout, min(self.timeout, 1.0))
        try:
            yield
        except NonConformance as failure:
            if self._can_alarm:
                self._disarm()
            if count:
                if self.first_failure_at is None:
                    self.first_failure_at = time.monotonic()
                    self.found_after = self.examples
                self.last_failure = failure
            raise
        except ExampleTimeout as hung:
            if self._can_alarm:
                self._disarm()
            hung.problem = problem
            raise
        finally:
            if self._can_alarm:
                self._disarm()

    # -- progress on stderr
    def _progress(self) -> None:
        if not self.show_progress:
            return
        now = time.monotonic()
        if now - self._last_shown < (0.2 if self.tty else 2.0):
            return
        self._last_shown = now
        elapsed = now - self.started
        if self.first_failure_at is None:
            text = f"{_PROG}: {self.examples}/{self.budget} examples, {elapsed:.0f} s"
        else:
            text = (
                f"{_PROG}: mismatch found after {self.found_after} examples; shrinking "
                f"({self.shrink_runs} runs, {now - self.first_failure_at:.0f} s)"
            )
        if self.tty:
            sys.stderr.write("\r\x1b[K" + text)
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _clear_progress(self) -> None:
        if self.show_progress and self.tty and self._last_shown:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
