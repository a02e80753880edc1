"""The built distribution: ``optverify`` is its only top-level import name, the three source
folders ship as real files under it, ``py.typed`` and the entry points are there, torch is
not capped, ``twine check`` passes, and an installed copy cannot ``import properties``."""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.test_packaging._run import REPO

pytest.importorskip("build", reason="the `build` package builds the distributions")


def _isolation_flags() -> list[str]:
    """Build with this environment's setuptools when it is new enough (no download)."""
    try:
        from importlib.metadata import version

        major = int(version("setuptools").split(".")[0])
    except Exception:
        return []
    return ["--no-isolation"] if major >= 77 else []


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist, then the wheel built from it (``python -m build``), as a user or PyPI gets it."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", *_isolation_flags(), "--outdir", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("optverify-*.whl")
    return found


def test_only_top_level_name_is_optverify(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"optverify", "optverify-0.1.0.dist-info"}
    assert not any(n.startswith(("optimizers/", "properties/", "analytic/")) for n in names)


def test_source_folders_ship_as_real_files(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    links = [
        i.filename for i in archive.infolist() if (i.external_attr >> 16) & 0o170000 == 0o120000
    ]
    assert links == []
    for folder in ("optimizers", "properties", "analytic"):
        for source in sorted((REPO / folder).rglob("*.py")):
            inside = f"optverify/{source.relative_to(REPO).as_posix()}"
            assert archive.read(inside) == source.read_bytes(), inside


def test_typed_marker_and_entry_points(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    assert "optverify/py.typed" in archive.namelist()
    entry = archive.read("optverify-0.1.0.dist-info/entry_points.txt").decode()
    assert "[pytest11]\noptverify = optverify.pytest_plugin" in entry
    assert "optverify = optverify.cli:main" in entry


def test_torch_is_not_capped(wheel: Path) -> None:
    meta = email.message_from_bytes(
        zipfile.ZipFile(wheel).read("optverify-0.1.0.dist-info/METADATA")
    )
    (torch_req,) = [r for r in meta.get_all("Requires-Dist") or [] if r.startswith("torch")]
    assert torch_req.replace(" ", "") == "torch>=2.9"
    assert "Typing :: Typed" in (meta.get_all("Classifier") or [])


def test_sdist_holds_real_files_too(dist: Path) -> None:
    (sdist,) = dist.glob("optverify-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name.split("/", 1)[1]: m for m in tar.getmembers() if "/" in m.name}
    conformance = members["optverify/properties/conformance.py"]
    assert conformance.isfile()
    assert not any(m.issym() for m in members.values())


def test_twine_check_passes(dist: Path) -> None:
    pytest.importorskip("twine", reason="twine checks the distributions' metadata")
    files = sorted(str(p) for p in dist.iterdir())
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *files],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2


def test_installed_copy_has_no_generic_top_level_names(wheel: Path, tmp_path: Path) -> None:
    """Unpacked as an installer would, away from the checkout: ``optverify.properties``
    imports, ``properties`` does not."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import optverify, optverify.properties.conformance as c;"
        "assert optverify.__file__.startswith(sys.argv[1]), optverify.__file__;"
        "assert optverify.assert_conforms is c.assert_conforms\n"
        "for name in ('properties', 'optimizers', 'analytic'):\n"
        "    try:\n"
        "        __import__(name)\n"
        "    except ImportError:\n"
        "        continue\n"
        "    raise SystemExit(f'{name} is importable')\n"
        "print('ok')"
    )
    env = {"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(site)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
