"""The command line as a new user meets it: ``--version``, one-line parser errors, help with
defaults, suggestions, verify's header and torch version, no warnings of our own, Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import warnings

import pytest

from optverify import __version__, hints, torch_compat
from optverify.cli import main
from tests.test_packaging._run import child_env


def _exit(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(stop.value.code or 0), out, err


def test_version_names_torch(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _exit(capsys, "--version")
    assert code == 0
    assert out.strip() == (
        f"optverify {__version__} (torch {torch_compat.installed_torch()}; our classes mirror "
        f"torch {torch_compat.MIRRORED})"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["verfy"], "invalid choice: 'verfy'"),
        (["verify", "--max-examples", "0"], "--max-examples: must be at least 1: 0"),
        (["list", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["check"], "the following arguments are required: TARGET"),
        (["list", "--nope"], "unrecognized arguments: --nope"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_parser_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code, out, err = _exit(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err and err.rstrip().endswith("--help)")


def test_parser_suggests_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = _exit(capsys, "verfy")
    assert "did you mean 'verify'?" in err


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "verify",
            [
                "examples per optimiser and dtype (default: 100)",
                "(default: 0)",
                "Run the conformance property",
                "--progress",
            ],
        ),
        ("report", ["write the citeable report", "notes directory", "claims whose ID"]),
        ("list", ["List the optimisers", "(default: text)"]),
    ],
)
def test_help_has_descriptions_and_defaults(
    capsys: pytest.CaptureFixture[str], command: str, expected: list[str]
) -> None:
    code, out, _ = _exit(capsys, command, "--help")
    flat = " ".join(out.split())
    assert code == 0
    for text in expected:
        assert " ".join(text.split()) in flat, text


def test_suggest() -> None:
    names = ["SGD", "Adam", "AdamW", "RMSprop", "LBFGS"]
    assert hints.suggest("adam", names) == "Adam"
    assert hints.suggest("torch.optim.sgd", names) == "SGD"
    assert hints.suggest("Adamm", names) == "Adam"
    assert hints.suggest("RMSProp", names) == "RMSprop"
    assert hints.suggest("Lion", names) is None
    message = hints.unknown_message("optimiser", "adam", names)
    assert message == "unknown optimiser 'adam'; did you mean 'Adam'? valid: " + ", ".join(names)
    assert "did you mean" not in hints.unknown_message("optimiser", "Lion", names)
    assert hints.unknown_message("optimiser", "sgd", names, "for --against").startswith(
        "unknown optimiser 'sgd' for --against; did you mean 'SGD'? valid: SGD, Adam"
    )


def test_verify_unknown_name_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "adam"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("optverify verify: unknown optimiser 'adam'; did you mean 'Adam'?")


def test_quiet_own_warnings_keeps_a_users_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with hints.quiet_own_warnings():
            for module in ("optverify.optimizers.sparse_adam", "torch.optim.lbfgs", "mylib.opt"):
                warnings.warn_explicit(
                    "Sparse invariant checks are implicitly disabled. Memory errors",
                    UserWarning, "x.py", 1, module=module,
                )  # fmt: skip
    assert [w.filename for w in caught] == ["x.py"]  # only mylib.opt's


def test_verify_header_torch_version_and_no_warnings() -> None:
    """SparseAdam and LBFGS provoke torch warnings in our own code: none reaches the user."""
    done = subprocess.run(
        [sys.executable, "-m", "optverify", "verify", "SparseAdam", "LBFGS", "--max-examples",
         "3", "--progress"],
        env=child_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        f"optverify verify: our classes against torch {torch_compat.installed_torch()}"
    )
    assert lines[1].startswith("columns: optimiser, parameter dtype, verdict")
    assert lines[2].split() == ["NAME", "DTYPE", "VERDICT", "EXAMPLES", "MODES", "SECONDS"]
    assert lines[-1].endswith(f"torch {torch_compat.installed_torch()}")
    assert "Warning" not in done.stdout + done.stderr
    assert "optverify verify: SparseAdam float64: 1/3 examples" in done.stderr


def test_ctrl_c_says_how_many_examples_passed() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "optverify", "verify", "SGD", "--max-examples", "100000",
         "--progress"],
        env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stderr is not None
    try:
        deadline = time.monotonic() + 120
        for line in child.stderr:  # progress lines: wait until examples are running
            if "examples" in line and not line.split(": ")[-1].startswith("1/"):
                break
            assert time.monotonic() < deadline
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130
    (last,) = [line for line in err.splitlines() if "interrupted" in line]
    passed = int(last.split("after ")[1].split()[0])
    assert passed >= 1 and last.endswith("passed (no difference found so far)")
