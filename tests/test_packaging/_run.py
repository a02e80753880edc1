"""Running things as a user would: pytest on a project, the optverify command, in a child
process that imports this checkout's optverify."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "sample_library"


def plugin_args() -> list[str]:
    """``-p optverify.pytest_plugin`` unless the installed entry point loads it already."""
    if importlib.metadata.entry_points(group="pytest11", name="optverify"):
        return []
    return ["-p", "optverify.pytest_plugin"]


def child_env(*paths: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a child process: this checkout (and ``paths``) importable first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYPOTHESIS_", "GITHUB_"))}
    path = [str(p) for p in paths] + [str(REPO)]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env.update(PYTHONPATH=os.pathsep.join(path), OMP_NUM_THREADS="1", **extra)
    return env


def run_pytest(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m pytest ARGS`` in ``project`` (its own rootdir and configuration)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
         *plugin_args(), *args],
        cwd=project, env=child_env(project), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def copy_sample(tmp_path: Path, bug: tuple[str, str] | None = None) -> Path:
    """A copy of the sample library; ``bug`` = (text, replacement) plants a defect in sgd.py."""
    project = tmp_path / "sample_library"
    shutil.copytree(SAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".*"))
    if bug is not None:
        source = project / "sample_optim" / "sgd.py"
        text = source.read_text()
        assert bug[0] in text, bug
        source.write_text(text.replace(bug[0], bug[1]))
    return project


#: a planted defect: weight decay applied twice over
DOUBLE_DECAY = ("p.grad.add(p, alpha=decay)", "p.grad.add(p, alpha=2 * decay)")
