"""nox sessions for optverify.

Default (``nox``, what CI runs): ``lint``, ``typecheck``, ``tests``.
Opt-in: ``thorough`` (the Hypothesis ``thorough`` profile), ``analytic`` (the claims'
tests), ``report`` (writes the citeable report to ``report/``), ``cuda`` (the CUDA tests;
they skip cleanly without a GPU), ``bench`` (times every optimiser step, writes the ratio
table and fails on a regression against the committed baseline).

torch: sessions install ``$OPTVERIFY_TORCH`` first when it is set (CI sets
``torch==2.13.0``, the CPU build kept on these machines; never pull a multi-GB CUDA build
onto a CPU-only machine); elsewhere the ordinary ``torch`` from ``pyproject.toml``.
Every session pins torch to one thread (``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import os

import nox

nox.needs_version = ">=2024.4.15"
nox.options.default_venv_backend = "virtualenv"
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "typecheck", "tests"]

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _install(session: nox.Session, *extras: str) -> None:
    torch_spec = os.environ.get("OPTVERIFY_TORCH")
    if torch_spec:
        session.install(torch_spec)
    target = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", target)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on optimizers/, properties/, analytic/."""
    _install(session)
    session.install("mypy>=1.10")
    session.run("mypy", env=ONE_THREAD)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite under the ``ci`` profile when CI is set (``dev`` otherwise);
    pass pytest arguments after ``--``, e.g. ``nox -s tests -- -k Adam``."""
    _install(session, "test")
    session.run("pytest", "-n", "auto", "--durations=15", *session.posargs, env=ONE_THREAD)


@nox.session(default=False)
def thorough(session: nox.Session) -> None:
    """Nightly-style: 1 000 examples per property, random seeds."""
    _install(session, "test")
    env = {**ONE_THREAD, "HYPOTHESIS_PROFILE": "thorough"}
    session.run("pytest", "-n", "auto", *session.posargs, env=env)


@nox.session(default=False)
def analytic(session: nox.Session) -> None:
    """The claims of the notes: every check and its evidence."""
    _install(session, "test")
    session.run("pytest", "tests/analytic", "tests/test_notes_optimizers.py", *session.posargs,
                env=ONE_THREAD)  # fmt: skip


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Write the citeable report (Markdown, JSON, figures) to ``report/``."""
    _install(session)
    session.run("optverify", "report", "--out", "report", *session.posargs, env=ONE_THREAD)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Per-step benchmarks (``tests/bench``), timed: pytest-benchmark's JSON and the ratio
    table go to ``.benchmarks/``; the gate then fails on a ratio (ours ÷ torch's best) worse
    than the committed baseline's by more than its margin. Narrow a run with
    ``OPTVERIFY_BENCH_CASES=Adam,SGD`` / ``OPTVERIFY_BENCH_SIZES=1e7``; pytest arguments go
    after ``--``."""
    _install(session, "test")
    os.makedirs(".benchmarks", exist_ok=True)
    results = os.path.join(".benchmarks", "latest.json")
    session.run(
        "pytest", "tests/bench/test_step_speed.py", "-p", "no:xdist",
        "--benchmark-enable", "--benchmark-only", "--benchmark-min-rounds=5",
        "--benchmark-max-time=0.5", "--benchmark-warmup=off", "--benchmark-sort=name",
        f"--benchmark-json={results}", "-q", *session.posargs, env=ONE_THREAD,
    )  # fmt: skip
    session.run("python", "-m", "optverify.bench", "table", results,
                "--out", os.path.join(".benchmarks", "bench.md"),
                "--png", os.path.join(".benchmarks", "bench_floor.png"))  # fmt: skip
    session.run("python", "-m", "optverify.bench", "gate", results)


@nox.session(default=False)
def cuda(session: nox.Session) -> None:
    """The CUDA tests (ours and torch on CUDA, CPU vs CUDA); skipped without a GPU."""
    _install(session, "test")
    session.run("pytest", "-m", "cuda", "-rs", *session.posargs, env=ONE_THREAD)
