"""``[tool.optverify]``: merged per target, command line over target table over top level,
and every malformed table a one-line ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from optverify.config import ConfigError, Settings, bind_init, settings_for
from optverify.properties.targets import accepted_hyperparameters

PYPROJECT = """
[project]
name = "lib"

[tool.optverify]
seed = 3
max-examples = 50
dtypes = ["float64"]
ignore_state = ["mu"]
pins = { eps = 1e-8 }

[tool.optverify.targets."src/lib/optim.py:MyAdam"]
against = "Adam"
max-examples = 500
pins = { betas = [0.9, 0.99] }
init = { backend = "eager" }

[tool.optverify.targets.OtherSGD]
against = "SGD"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "src" / "lib").mkdir(parents=True)
    return tmp_path


def test_target_table_over_top_level(project: Path) -> None:
    s = settings_for("src/lib/optim.py:MyAdam", start=project)
    assert s.against == "Adam" and s.seed == 3 and s.max_examples == 500
    assert s.dtypes == ("float64",) and s.ignore_state == ("mu",)
    assert s.pins == {"eps": 1e-8, "betas": (0.9, 0.99)}  # arrays become tuples
    assert s.init == {"backend": "eager"}
    assert s.source == str(project / "pyproject.toml")
    assert s.dtype_text == "float64" and s.pin_items() == ["eps=1e-08", "betas=(0.9, 0.99)"]


def test_command_line_over_both(project: Path) -> None:
    cli = {"max_examples": 20, "seed": None, "pins": {"eps": 1e-6}, "dtypes": ["float32"]}
    s = settings_for("src/lib/optim.py:MyAdam", cli, start=project)
    assert s.max_examples == 20 and s.seed == 3  # None: not given
    assert s.pins == {"eps": 1e-6, "betas": (0.9, 0.99)} and s.dtypes == ("float32",)
    with pytest.raises(TypeError, match="unknown option 'colour'"):
        settings_for("x", {"colour": 1}, start=project)


def test_targets_are_matched_by_path_module_or_class_name(project: Path) -> None:
    # a key's relative path is read from the pyproject's folder, the target's from the cwd
    assert settings_for(f"{project}/src/lib/optim.py:MyAdam", start=project).against == "Adam"
    assert settings_for(f"{project}/lib/optim.py:MyAdam", start=project).against is None
    assert settings_for("lib.optim:OtherSGD", start=project).against == "SGD"
    assert settings_for("a/b.py:OtherSGD", start=project).against == "SGD"
    assert settings_for("lib.optim:MyAdam", start=project).against is None
    assert settings_for(None, start=project).max_examples == 50


def test_found_upwards_and_absent(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert settings_for("OtherSGD", start=project / "src" / "lib").against == "SGD"
    empty = tmp_path_factory.mktemp("empty")
    assert settings_for("x", start=empty) == Settings(target="x")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[tool.optverify]\nmax-exampels = 3", "unknown key 'max-exampels'; valid:"),
        ("[tool.optverify]\nmax-examples = 0", "max-examples must be an integer >= 1"),
        ("[tool.optverify]\nseed = true", "seed must be an integer"),
        ("[tool.optverify]\ndtypes = 'float32'", "dtypes must be a non-empty array"),
        ("[tool.optverify]\nagainst = 'Adam'", "unknown key 'against'"),
        ("[tool.optverify.targets.X]\npins = { '1x' = 2 }", "'1x' is not an argument name"),
        ("[tool.optverify]\ntargets = 3", "one table per target"),
        ("[tool.optverify\n", "not valid TOML"),
    ],
)
def test_malformed_tables_are_one_line_errors(tmp_path: Path, table: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(table)
    with pytest.raises(ConfigError, match=message) as error:
        settings_for("X", start=tmp_path)
    assert "pyproject.toml" in str(error.value) and "\n" not in str(error.value)


class _Backend(torch.optim.SGD):
    def __init__(self, params, lr=1e-3, momentum=0.0, *, backend: str = "fast") -> None:  # type: ignore[no-untyped-def]
        super().__init__(params, lr=lr, momentum=momentum)
        self.backend = backend


def test_bind_init_fixes_target_only_arguments() -> None:
    bound = bind_init(_Backend, {"backend": "eager"})
    assert accepted_hyperparameters(bound) == {"lr", "momentum"}
    opt = bound([torch.zeros(2, requires_grad=True)], lr=0.1)
    assert isinstance(opt, _Backend) and opt.backend == "eager" and bound.__name__ == "_Backend"
    assert bind_init(_Backend, {}) is _Backend
    with pytest.raises(ConfigError, match="takes no colour"):
        bind_init(_Backend, {"colour": "red"})
