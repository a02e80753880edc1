"""nox sessions for optverify.

Default (``nox``, what CI runs): ``gate`` — ruff, mypy and the whole suite in one
environment (torch and the extras installed once). Opt-in: ``lint``, ``typecheck``,
``tests`` (the gate's parts, each on its own), ``thorough`` (the Hypothesis ``thorough``
profile), ``analytic`` (the claims' tests), ``report`` (writes the citeable report to
``report/`` and checks its HTML in headless Chromium), ``cuda`` (the CUDA tests; they skip
cleanly without a GPU), ``bench`` (times every optimiser step, writes the ratio
table and fails on a regression against the committed baseline), ``torch-versions`` (the
check service's tests against another torch release; a large download).

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
nox.options.sessions = ["gate"]

# Python writes the bytecode of what it imports: where PYTHONDONTWRITEBYTECODE is set, every
# process that imports torch compiles its sources again (~6 s; the suite starts dozens).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TORCHINDUCTOR_COMPILE_THREADS": "1"}


def _install(session: nox.Session, *extras: str) -> None:
    torch_spec = os.environ.get("OPTVERIFY_TORCH")
    if torch_spec:
        session.install(torch_spec)
    target = f".[{','.join(extras)}]" if extras else "."
    session.install("-e", target)


GATE_EXTRAS = ("test", "dev", "jax", "keras", "distributed")


def _lint(session: nox.Session) -> None:
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def _pytest(session: nox.Session) -> None:
    session.run("pytest", "-n", "auto", "--dist", "worksteal", "--durations=15", *session.posargs,
                env=ONE_THREAD)  # fmt: skip


@nox.session
def gate(session: nox.Session) -> None:
    """The pull-request gate in one environment: ruff, mypy, then the whole suite under the
    ``ci`` profile when CI is set (``dev`` otherwise); pytest arguments after ``--``."""
    _install(session, *GATE_EXTRAS)
    _lint(session)
    session.run("mypy", env=ONE_THREAD)
    _pytest(session)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff>=0.6")
    _lint(session)


@nox.session(default=False)
def typecheck(session: nox.Session) -> None:
    """mypy on optimizers/, properties/, analytic/."""
    _install(session)
    session.install("mypy>=1.10")
    session.run("mypy", env=ONE_THREAD)


@nox.session(default=False)
def tests(session: nox.Session) -> None:
    """The whole suite under the ``ci`` profile when CI is set (``dev`` otherwise);
    pass pytest arguments after ``--``, e.g. ``nox -s tests -- -k Adam``."""
    _install(session, "test", "jax", "keras", "distributed")
    _pytest(session)


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
    """Write the citeable report (Markdown, JSON, HTML, figures) to ``report/`` and check
    ``report/index.html`` in headless Chromium: every anchor resolves, screenshots of the
    index and of one claim go to ``report/screenshots/`` (skipped, with the reason, when no
    Chromium is installed). The notes: ``$OPTVERIFY_NOTES``, else ``../shared/notes``."""
    _install(session, "test")
    notes = os.environ.get("OPTVERIFY_NOTES") or os.path.join("..", "shared", "notes")
    session.run("optverify", "report", "--out", "report", "--notes", notes, *session.posargs,
                env=ONE_THREAD)  # fmt: skip
    env = {**ONE_THREAD, "OPTVERIFY_NOTES": notes, "OPTVERIFY_REPORT": "report"}
    session.run("pytest", "-p", "no:xdist", "-rs", "tests/analytic/test_report_browser.py",
                env=env)  # fmt: skip


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Per-step benchmarks, timed. The synthetic sizes (``tests/bench``, pytest-benchmark)
    go to ``.benchmarks/latest.json``; the real models' parameter lists (ResNet-50,
    GPT-2-small; ``python -m tests.bench.interleave``, ours and torch stepped in turn in one
    process) to ``.benchmarks/models.json``. Then the ratio table, headed by the machine,
    date, torch version and load, goes to ``.benchmarks/bench.md`` with the plot
    ``bench_floor.png``, and the gate fails on a ratio (ours ÷ torch's best) worse than the
    committed baseline's by more than its margin, for the synthetic sizes and for each model.
    Where torch sees a CUDA device, the fast paths are timed there too against torch's
    foreach and fused CUDA kernels (``python -m tests.bench.cuda``, ``.benchmarks/cuda.json``:
    1e7 and 1e8 elements and both models, with % of the device's peak memory bandwidth); a
    GPU machine needs a CUDA build of torch (``OPTVERIFY_TORCH`` unset, or naming one).
    Narrow a run with ``OPTVERIFY_BENCH_CASES=Adam,SGD`` / ``OPTVERIFY_BENCH_SIZES=1e7``
    (``OPTVERIFY_BENCH_MODELS=resnet50``, or ``none``); pytest arguments go after ``--``."""
    _install(session, "test")
    os.makedirs(".benchmarks", exist_ok=True)
    results = os.path.join(".benchmarks", "latest.json")
    models = os.path.join(".benchmarks", "models.json")
    session.run(
        "pytest", "tests/bench/test_step_speed.py", "-p", "no:xdist",
        "--benchmark-enable", "--benchmark-only", "--benchmark-min-rounds=5",
        "--benchmark-max-time=0.5", "--benchmark-warmup=off", "--benchmark-sort=name",
        f"--benchmark-json={results}", "-q", *session.posargs, env=ONE_THREAD,
    )  # fmt: skip
    files = [results]
    model_sizes = os.environ.get("OPTVERIFY_BENCH_MODELS", "resnet50,gpt2")
    if model_sizes != "none":
        cases = os.environ.get("OPTVERIFY_BENCH_CASES", "")
        session.run("python", "-m", "tests.bench.interleave", "--sizes", model_sizes,
                    "--cases", cases, "--rounds", "7", "--json", models,
                    env=ONE_THREAD)  # fmt: skip
        files.append(models)
    cuda = os.path.join(".benchmarks", "cuda.json")
    if os.path.exists(cuda):
        os.remove(cuda)  # never a table of an earlier run's device figures
    session.run("python", "-m", "tests.bench.cuda", "--cases",
                os.environ.get("OPTVERIFY_BENCH_CASES", ""), "--json", cuda,
                env=ONE_THREAD)  # fmt: skip
    if os.path.exists(cuda):  # written only where there is a CUDA device
        files.append(cuda)
    session.run("python", "-m", "optverify.bench", "table", *files,
                "--out", os.path.join(".benchmarks", "bench.md"),
                "--png", os.path.join(".benchmarks", "bench_floor.png"))  # fmt: skip
    session.run("python", "-m", "optverify.bench", "gate", *files)


@nox.session(default=False)
def cuda(session: nox.Session) -> None:
    """The CUDA tests (ours and torch on CUDA, CPU vs CUDA); skipped without a GPU."""
    _install(session, "test")
    session.run("pytest", "-m", "cuda", "-rs", *session.posargs, env=ONE_THREAD)


#: the other torch release(s) ``torch-versions`` tests against (comma-separated specs)
OTHER_TORCH = os.environ.get("OPTVERIFY_OTHER_TORCH", "torch==2.14.1")


@nox.session(name="torch-versions", default=False)
def torch_versions(session: nox.Session) -> None:
    """The check service (``optverify check``, ``assert_conforms``, the pytest plugin, the
    packaging) against another torch release than the one our classes mirror:
    ``$OPTVERIFY_OTHER_TORCH`` (default ``torch==2.14.1``, a multi-GB download with its CUDA
    libraries, hence opt-in). Our own classes' bit-for-bit tests run too and report each
    optimiser that drifted from that torch as an xfail with the difference (``-rxX``)."""
    session.install(*OTHER_TORCH.split(","))
    session.install("-e", ".[test]")
    session.run("python", "-c", "import torch; print('torch', torch.__version__)")
    tests = session.posargs or [
        "tests/test_check_cli.py", "tests/test_packaging",
        "tests/test_properties/test_conformance.py",
    ]  # fmt: skip
    session.run("pytest", "-p", "no:xdist", "-rxXs", *tests, env=ONE_THREAD)


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """Mutation testing of the verdict engine (``properties/verdict.py`` with ``findings.py``,
    ``elementwise.py`` and ``budget.py``; ``tolerances.py``; ``harness.py`` with
    ``comparison.py``; ``conformance.py`` with ``targets.py``, ``coverage.py`` and
    ``counterexample.py``) with mutmut; configuration and kill suite in
    ``pyproject.toml`` (``[tool.mutmut]``), work tree in ``mutants/``. Pass mutant names
    after ``--`` to rerun some; ``MUTMUT_CHILDREN`` sets the parallel workers (default 2).
    Prints every mutant's status; inspect a survivor with ``mutmut show NAME``."""
    _install(session, "test")
    session.install("mutmut>=3.3")
    children = os.environ.get("MUTMUT_CHILDREN", "2")
    session.run("mutmut", "run", "--max-children", children, *session.posargs, env=ONE_THREAD)
    session.run("mutmut", "results", "--all", "true", env=ONE_THREAD)


@nox.session(name="torch-history", default=False)
def torch_history(session: nox.Session) -> None:
    """The bug benchmark over torch's history: ``nox -s torch-history -- 2.0.1 2.13.0``. For
    each version a fresh environment with that torch from the registry (a multi-GB CUDA
    build; it runs on CPU), ``optverify audit-torch`` at the thorough budget, each finding's
    repro run there, the record in ``history/VERSION.json``; the environment is deleted
    afterwards. ``optverify report --history history/`` renders the table."""
    if not session.posargs:
        session.error("name the torch versions after --, e.g. nox -s torch-history -- 2.0.1")
    session.install("numpy", "hypothesis", "sympy")
    session.run("python", "-m", "optverify.history", "run", *session.posargs, env=ONE_THREAD)
