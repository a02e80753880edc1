"""``optverify check``: exit codes, one-line messages, counterexamples and their repro scripts.

The command runs in-process (``optverify.cli.main``) except where a separate process is the
point: the hang (a watchdog interrupts it) and the repro snippets (they must run without
optverify). Fixtures live in ``tests/check_targets/``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

from optverify.cli import main
from optverify.properties.conformance import NonConformance, assert_conforms
from optverify.properties.specs import SPECS
from tests.planted import PLANTED

REPO = Path(__file__).resolve().parents[1]
TARGETS = "tests/check_targets/targets.py"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Targets are named relative to the repository root, as a user in a checkout would."""
    monkeypatch.chdir(REPO)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``optverify check ARGS`` in-process: (exit code, stdout, stderr)."""
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    """stderr must be exactly one line, no traceback."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def run_snippet(snippet: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Run a repro script in a fresh interpreter, from the directory the check ran in."""
    script = tmp_path / "repro.py"
    script.write_text(snippet)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(script)], cwd=Path.cwd(), env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# usage and loading problems: exit 2, one line on stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["tests/check_targets/nope.py:X", "--against", "SGD"],
         "file not found: tests/check_targets/nope.py"),
        (["tests/check_targets/import_error.py:X", "--against", "SGD"],
         "cannot import tests/check_targets/import_error.py: ModuleNotFoundError: "
         "No module named 'optverify_no_such_module'"),
        (["optverify_nosuchpkg.mod:X", "--against", "SGD"],
         "cannot import optverify_nosuchpkg.mod: ModuleNotFoundError"),
        ([f"{TARGETS}:Nope", "--against", "SGD"], f"no class 'Nope' in {TARGETS}"),
        (["tests/check_targets/not_optimizer.py:DuckSGD", "--against", "SGD"],
         "is neither a torch.optim.Optimizer subclass nor a factory"),
        (["tests/check_targets/not_optimizer.py:NOT_A_CLASS", "--against", "SGD"],
         "nor a factory f(params, **hyperparameters) (it is an object of type int)"),
        (["examples/my_sgd.py", "--against", "SGD"],
         "expected path/to/file.py:Name or package.module:Name"),
        (["examples/my_sgd.py:MySGD", "--against", "Adamm"],
         "--against: unknown optimiser 'Adamm'; did you mean 'Adam'? valid: ASGD, Adadelta"),
        (["examples/my_sgd.py:MySGD", "--against", "adam"],
         "--against: unknown optimiser 'adam'; did you mean 'Adam'?"),
        (["tests/check_targets/targets.py:NeedsScale", "--against", "SGD"],
         "NeedsScale() needs 'scale' that torch.optim.SGD does not take: pass it with "
         "--init scale=VALUE"),
        (["examples/my_sgd.py:MySGD", "--against", "SGD", "--init", "lr"],
         "--init 'lr': expected KEY=VALUE"),
        (["examples/my_sgd.py:MySGD", "--against", "SGD", "--set", "betas=(0.9, 0.99)"],
         "--set betas: torch.optim.SGD takes no such hyperparameter; valid: dampening, lr"),
        (["examples/my_sgd.py:MySGD", "--against", "Adam", "--set", "amsgrad=True"],
         "--set amsgrad: MySGD's constructor takes no 'amsgrad'"),
        (["examples/my_sgd.py:MySGD", "--against", "SGD", "--set", "lr=-1.0"],
         "--set lr=-1.0: torch.optim.SGD rejects it: ValueError: Invalid learning rate: -1.0"),
        (["examples/my_sgd.py:MySGD", "--against", "SGD", "--set", "lr=1e-3)"],
         "--set lr=1e-3): '1e-3)' is not a Python literal"),
        (["examples/my_sgd.py:MySGD", "--against", "SGD", "--set", "lr"],
         "--set 'lr': expected KEY=VALUE"),
        (["examples/my_sgd.py:MySGD", "--against", "SGD", "--set", "foreach=True"],
         "--set foreach: chooses how torch computes"),
        (["examples/my_sgd.py:MySGD", "--against", "SGD", "--dtype", "float8"],
         "--dtype 'float8': unknown; valid: float64, float32"),
        (["examples/my_sgd.py:MySGD", "--against", "Muon", "--dtype", "complex64"],
         "--dtype complex64: torch.optim.Muon does not take complex"),
    ],
)  # fmt: skip
def test_usage_and_loading_problems_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    code, out, err = check(capsys, *args)
    assert code == 2
    assert out == ""
    line = one_line(err)
    assert line.startswith("optverify check: ") and expected in line, line


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_cuda_without_a_gpu_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(capsys, "examples/my_sgd.py:MySGD", "--against", "SGD", "--device", "cuda")
    assert code == 2
    assert "--device cuda: no CUDA device is available" in one_line(err)


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(
        capsys, "tests/check_targets/import_error.py:X", "--against", "SGD", "--debug"
    )
    assert code == 2
    assert "Traceback" in err and "optverify_no_such_module" in err


def test_json_error_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(capsys, f"{TARGETS}:Nope", "--against", "SGD", "--format", "json")
    assert code == 2
    assert json.loads(out) == {"verdict": "error", "error": one_line(err).split(": ", 1)[1]}


def test_argparse_problems_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["check", "examples/my_sgd.py:MySGD", "--against", "SGD", "--max-examples", "0"])
    assert stop.value.code == 2
    assert "--max-examples: must be at least 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# conforming targets: exit 0


def test_conforming_sample_prints_examples_and_what_was_varied(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = check(
        capsys, "examples/my_sgd.py:MySGD", "--against", "torch.optim.SGD",
        "--max-examples", "30", "--seed", "0",
    )  # fmt: skip
    assert code == 0, out
    assert out.startswith("conforms: MySGD behaves like torch.optim.SGD")
    assert "examples: 30 " in out
    assert "varied:   dampening, lr, maximize, momentum, nesterov, weight_decay" in out
    assert err == ""  # stderr is not a terminal and --progress was not given


def test_json_verdict_and_pins(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(
        capsys, "examples/my_sgd.py:MySGD", "--against", "SGD", "--set", "momentum=0.9",
        "--set", "nesterov=True", "--max-examples", "20", "--seed", "1", "--format", "json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(out)
    assert report["verdict"] == "conforms" and report["examples"] == 20
    assert report["pinned"] == {"momentum": 0.9, "nesterov": True}
    assert "momentum" not in report["varied"] and "lr" in report["varied"]
    assert report["counterexample"] is None and report["repro"] is None


def test_progress_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(
        capsys, f"{TARGETS}:PlainSGD", "--against", "SGD", "--max-examples", "20",
        "--seed", "0", "--progress",
    )  # fmt: skip
    assert code == 0
    assert "optverify check: 1/20 examples" in err


def test_functional_wrapper_example_conforms(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(
        capsys, "examples/functional_wrapper.py:FunctionalAdam", "--against", "Adam",
        "--max-examples", "30", "--seed", "0",
    )  # fmt: skip
    assert code == 0, out
    assert "not varied (FunctionalAdam does not take them" in out


def test_other_state_keys_are_a_layout_note_not_a_mismatch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = check(
        capsys, f"{TARGETS}:VelocitySGD", "--against", "SGD", "--max-examples", "30", "--seed", "0"
    )
    assert code == 0, out
    assert "state keys torch keeps and the target does not: ['momentum_buffer']" in out
    assert "state keys only the target keeps: ['t', 'velocity']" in out


def test_a_python_int_step_is_compared_by_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(
        capsys, f"{TARGETS}:IntStepAdam", "--against", "Adam", "--max-examples", "30",
        "--seed", "0", "--format", "json", "--dtype", "float64,float32,bfloat16,float16",
    )  # fmt: skip
    report = json.loads(out)
    assert code == 0, report["summary"]
    assert report["state_layout"]["compared_by_value"] == ["step"]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_our_own_classes_conform(capsys: pytest.CaptureFixture[str], name: str) -> None:
    ours = SPECS[name].ours
    code, out, _ = check(
        capsys, f"{ours.__module__}:{ours.__name__}", "--against", name,
        "--max-examples", "20", "--seed", "0",
    )  # fmt: skip
    assert code == 0, out
    assert out.startswith(f"conforms: {name} behaves like torch.optim.{name}")


# ---------------------------------------------------------------------------------------------
# mismatches: exit 1, the case in one line on stderr, the counterexample on stdout


def test_constructor_rejecting_what_torch_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = check(
        capsys, f"{TARGETS}:StrictEpsAdam", "--against", "Adam", "--seed", "0", "--shrink-time", "5"
    )
    assert code == 1
    line = one_line(err)
    assert "constructor: target raised ValueError: eps too small" in line
    assert "torch did not" in line and "'eps': 0.0" in line
    assert "torch:  no exception" in out


def test_constructor_accepting_what_torch_rejects(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(capsys, f"{TARGETS}:UnvalidatedSGD", "--against", "SGD", "--seed", "0")
    assert code == 1
    line = one_line(err)
    assert "constructor: target accepted, torch raised ValueError: Invalid learning rate" in line


def test_step_raising_where_torch_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = check(capsys, f"{TARGETS}:NoWeightDecaySGD", "--against", "SGD", "--seed", "0")
    assert code == 1
    line = one_line(err)
    assert "step 1: target raised NotImplementedError: weight decay is not supported yet" in line
    assert "validation at step 1" in line and "'weight_decay': 0.0," not in line


def test_nan_where_torch_is_finite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = check(
        capsys, f"{TARGETS}:NormalisedSGD", "--against", "SGD", "--seed", "0",
        "--shrink-time", "5", "--format", "json", "--dtype", "float64,float32", "--no-sparse",
    )  # fmt: skip
    assert code == 1
    report = json.loads(out)
    ce = report["counterexample"]
    assert ce["what"] == "param" and ce["class"] in ("overflow", "non-finite kind")
    assert "nan" in json.dumps(ce["target_value"])
    assert re.search(r"(overflow|non-finite kind) at step", one_line(err))
    shown = run_snippet(report["repro"], tmp_path)
    assert shown.returncode == 1, shown.stderr
    assert re.search(r"MISMATCH: (overflow|non-finite kind) at step", shown.stderr)


def test_a_hanging_step_is_reported_with_its_example() -> None:
    """A step that never returns: the watchdog stops it after --timeout (subprocess)."""
    done = subprocess.run(
        [sys.executable, "-m", "optverify", "check", f"{TARGETS}:HangsAtZeroLrSGD",
         "--against", "SGD", "--seed", "0", "--timeout", "1", "--max-examples", "20"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    line = one_line(done.stderr)
    assert "HangsAtZeroLrSGD hangs: step 1 did not finish within 1 s" in line
    assert "targets.py" in line and "'lr': 0.0" in line
    assert "group 0:  {'lr': 0.0}" in done.stdout


# ---------------------------------------------------------------------------------------------
# every planted bug: exit 1, and the repro snippet shows the difference without optverify

_BATCH = """
import contextlib, io, json, runpy, sys
results = {}
for path in sys.argv[1:]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
            print(stop.code, file=sys.stderr)
    results[path] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
print(json.dumps(results))
"""


def test_every_planted_bug_gives_a_reproducible_counterexample(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Each planted bug: exit 1, a one-line verdict with the class of the finding, and a repro
    script (the same comparison code, imported) that, run in a fresh interpreter, exits 1 at
    the reported step. (One test and one interpreter for all of them: torch's import
    dominates a script's run time.)"""
    expected: dict[str, tuple[str, int]] = {}
    for bug, against in PLANTED.items():
        code, out, err = check(
            capsys, f"tests/planted.py:{bug.__name__}", "--against", against, "--seed", "0",
            "--shrink-time", "0.5", "--format", "json",
        )  # fmt: skip
        assert code == 1, (bug.__name__, out)
        report = json.loads(out)
        assert report["verdict"] == "mismatch"
        ce = report["counterexample"]
        assert ce["params"] and ce["hyperparameters"], bug.__name__
        assert ce["class"] in ("mismatch", "overflow", "non-finite kind", "validation")
        line = one_line(err)
        assert line.startswith(f"optverify check: MISMATCH: {bug.__name__} vs torch.optim.")
        snippet = report["repro"]
        assert "from optverify.check.replay import replay" in snippet
        script = tmp_path / f"repro_{bug.__name__}.py"
        script.write_text(snippet)
        expected[str(script)] = (bug.__name__, ce["step"] or 0)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _BATCH, *expected], cwd=Path.cwd(), env=env,
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    # the script compares after every step, the check (long runs) after every tenth: the
    # script finds the difference at the reported step or before it
    wrong = {}
    for path, (name, step) in expected.items():
        found = re.search(r"MISMATCH: [a-z -]+ at (?:the constructor|step (\d+))",
                          results[path]["stderr"])  # fmt: skip
        at = int(found.group(1)) if found is not None and found.group(1) else 0
        if results[path]["code"] != 1 or found is None or at > step:
            wrong[name] = (step, results[path])
    assert not wrong, wrong


# ---------------------------------------------------------------------------------------------
# the library side: the hooks assert_conforms gained for the command


def test_around_example_sees_every_example() -> None:
    from tests.check_targets.targets import PlainSGD

    seen: list[Any] = []

    @contextmanager
    def around(problem: Any) -> Any:
        seen.append(problem)
        yield

    summary = assert_conforms(
        PlainSGD, "SGD", max_examples=15, seed=0, around_example=around,
        around_probe=lambda problem: contextlib.nullcontext(),
    )  # fmt: skip
    assert len(seen) == summary.examples == 15


def test_validation_finds_a_constructor_that_accepts_too_much() -> None:
    from tests.check_targets.targets import UnvalidatedSGD

    assert_conforms(UnvalidatedSGD, "SGD", max_examples=50, seed=0)  # valid draws only: passes
    with pytest.raises(NonConformance) as failure:
        assert_conforms(UnvalidatedSGD, "SGD", max_examples=50, seed=0, validation=True)
    assert failure.value.divergence is not None
    assert failure.value.divergence.what == "constructor"


# ---------------------------------------------------------------------------------------------
# constructor arguments torch does not take, factories, --repro, interruption


def test_init_passes_what_only_the_target_takes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(
        capsys, f"{TARGETS}:NeedsScale", "--against", "SGD", "--init", "scale=2.0",
        "--max-examples", "10", "--seed", "0",
    )  # fmt: skip
    assert code == 0, out
    assert "--init scale=2.0" not in out  # conforming: no rerun line needed


def test_a_factory_target(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = check(
        capsys, f"{TARGETS}:make_sgd", "--against", "SGD", "--max-examples", "15", "--seed", "0"
    )
    assert code == 0, out
    assert "varied:   lr, momentum" in out


def test_repro_file_is_written_and_replays(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repro = tmp_path / "repro_nan.py"
    code, _, err = check(
        capsys, f"{TARGETS}:NormalisedSGD", "--against", "SGD", "--seed", "0",
        "--shrink-time", "2", "--dtype", "float64", "--no-sparse", "--repro", str(repro),
    )  # fmt: skip
    assert code == 1
    assert f"repro script written to {repro}" in err
    done = run_snippet(repro.read_text(), tmp_path)
    assert done.returncode == 1 and "MISMATCH: " in done.stderr, done.stderr


def test_interrupted_run_says_how_many_examples_passed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = check(
        capsys, f"{TARGETS}:InterruptedSGD", "--against", "SGD", "--seed", "0",
        "--max-examples", "50",
    )  # fmt: skip
    assert code == 130
    assert re.search(r"interrupted: \d+ examples passed before the interruption", err), err


@pytest.mark.parametrize(
    "target",
    ["tests/check_targets/nope.py:X", f"{TARGETS}:Nope", "tests/check_targets/textbook.py:Nope"],
)
def test_bad_path_or_name_is_answered_before_torch_is_imported(target: str) -> None:
    """A missing file or a name the file does not bind: exit 2 without importing torch
    (read from the source; a file whose imports cannot be found is imported for its error)."""
    code = (
        "import sys; from optverify.cli import main; "
        f"rc = main(['check', {target!r}, '--against', 'SGD']); "
        "assert rc == 2, rc; assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
