"""``python -m optverify.history run VERSION...``: ``optverify audit-torch`` over torch's
releases, a bug benchmark of torch's history.

For each version: a fresh virtual environment with that torch from the registry (the
interpreter running this module when it already has that torch), ``audit-torch --format
json`` in it with the repository's ``optverify`` on ``PYTHONPATH``, then every finding's repro
script run in the same environment. The result goes to ``history/VERSION.json``: the audit's
runs and findings, each finding with ``reproduced`` (its script exited 1 on that version),
``defect`` (a stable id: optimiser, implementation, class and the features of its minimal
problem, :func:`defect_id`) and ``counted`` (reproduced and not a rounding-level
``precision`` note: only those are defects). The environment is deleted afterwards, so disk
stays bounded (``--keep`` keeps it); the next version's environment is installed while the
current one is audited (at most two at a time).

``nox -s torch-history -- VERSION...`` runs this; ``optverify report --history history/``
renders the table (:mod:`optverify.history_report`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["annotate", "both_raised", "defect_id", "main", "run_version"]

#: the repository root (``optverify/``'s parent): what ``PYTHONPATH`` gets in each environment
ROOT = Path(__file__).resolve().parent.parent

#: the budget of a history run (per optimiser × implementation): a third more problems than
#: audit-torch's default (30) and shorter shrinking (15 s, not 30), so that the nine
#: benchmark releases audit in about an hour on two shared cores (torch 2.13 at the default
#: budget: 13 min wall, 164 s of CPU)
THOROUGH_EXAMPLES = 40
THOROUGH_SHRINK_SECONDS = 15.0


#: the features of a minimal problem that name a defect, strongest first
_STRUCTURAL = ("sparse gradient", "non-contiguous", "missing gradient", "non-finite gradient",
               "empty parameter")  # fmt: skip


def defect_id(finding: dict[str, Any]) -> str:
    """A stable id for the defect a finding shows, the same across releases:
    ``OPTIMIZER/IMPLEMENTATION/CLASS/NATURE``. The nature is the state entry that parts
    (``state-eta``), or what else than a parameter or an exception parts
    (``grad-modified``), or else the strongest structural feature of the minimal problem
    (:data:`_STRUCTURAL`; shrinking within a time limit can leave weaker ones in) followed
    by the dtype family (half precision, complex) unless the feature is a memory layout. An
    exception's nature starts with ``raises``."""
    tags = list(finding.get("features") or ())
    what = str(finding.get("what") or "")
    family = [t for t in tags if t in ("half precision", "complex")]
    if what == "state" and finding.get("key"):
        nature = [f"state {finding['key']}"]
    elif what and what not in ("param", "state", "exception", "constructor"):
        nature = [what, *family]
    else:
        strongest = [t for t in _STRUCTURAL if t in tags][:1]
        nature = strongest + ([] if strongest == ["non-contiguous"] else family)
        nature = nature or ["float"]
    if "raises" in tags:
        nature = ["raises", *nature]
    slug = "+".join(t.replace(" ", "-") for t in nature)
    kind = str(finding["class"]).replace(" ", "-")
    return f"{finding['optimizer']}/{finding['implementation']}/{kind}/{slug}"


def both_raised(finding: dict[str, Any]) -> bool:
    """Both implementations raised (different errors): an input both refuse, no defect."""
    if "reference_raised" in finding:
        return bool(finding["reference_raised"]) and "raises" in (finding.get("features") or ())
    return "; torch raised " in str(finding.get("summary", ""))


def annotate(finding: dict[str, Any]) -> None:
    """Set ``defect`` and ``counted`` (its repro showed it on that release, it is not a
    ``precision`` note and not an input both implementations refuse)."""
    finding["defect"] = defect_id(finding)
    finding["counted"] = (
        bool(finding.get("reproduced")) and finding["class"] != "precision"
        and not both_raised(finding)
    )  # fmt: skip


def _base(version: str) -> str:
    return version.split("+")[0]


def _installed_here() -> str | None:
    from optverify import torch_compat

    try:
        return _base(torch_compat.installed_torch())
    except Exception:
        return None


def _numpy_spec(version: str) -> str:
    major, minor = (int(x) for x in _base(version).split(".")[:2])
    return "numpy<2" if (major, minor) < (2, 3) else "numpy"


def _start_install(version: str, venvs: Path) -> tuple[Path, subprocess.Popen[bytes]]:
    """Create ``venvs/VERSION`` and start installing that torch into it (in the background)."""
    env_dir = venvs / version
    python = env_dir / "bin" / "python"
    if python.exists():  # an environment left by --keep: reused when it has that torch
        check = [str(python), "-c", "import torch; print(torch.__version__)"]
        found = subprocess.run(check, capture_output=True, text=True)
        if found.returncode == 0 and _base(found.stdout.strip()) == _base(version):
            return python, subprocess.Popen(["true"])
    if env_dir.exists():
        shutil.rmtree(env_dir)
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    log = open(venvs / f"{version}.install.log", "wb")  # noqa: SIM115 (closed with the process)
    cmd = [str(python), "-m", "pip", "install", "-q", f"torch=={version}",
           _numpy_spec(version), "hypothesis", "sympy"]  # fmt: skip
    return python, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def _env(python: Path | str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    return env


def _nice() -> list[str]:
    return ["nice", "-n", "10"] if shutil.which("nice") else []


def _reproduce(python: Path | str, finding: dict[str, Any], folder: Path, index: int) -> None:
    """Run the finding's repro script on this version; record whether it showed the defect."""
    script = folder / f"{index:02d}_{finding['repro_file']}"
    script.write_text(finding["repro"])
    try:
        done = subprocess.run([*_nice(), str(python), str(script)], env=_env(python),
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        code, output = done.returncode, (done.stdout + done.stderr)
    except subprocess.TimeoutExpired:
        code, output = -1, "timed out after 600 s"
    finding["repro_exit"] = code
    finding["reproduced"] = code == 1
    finding["repro_output"] = output.strip()[-1500:]
    annotate(finding)


def run_version(
    version: str,
    python: Path | str,
    out: Path,
    *,
    max_examples: int = THOROUGH_EXAMPLES,
    shrink_seconds: float = THOROUGH_SHRINK_SECONDS,
    seed: int = 0,
    log: Any = sys.stderr,
) -> dict[str, Any]:
    """Audit torch ``version`` with the interpreter ``python`` (that torch installed), check
    each finding's repro there and write ``out/VERSION.json``; the record is returned."""
    start = time.perf_counter()
    cmd = [*_nice(), str(python), "-m", "optverify", "audit-torch", "--format", "json",
           "--max-examples", str(max_examples), "--shrink-seconds", str(shrink_seconds),
           "--seed", str(seed)]  # fmt: skip
    done = subprocess.run(cmd, env=_env(python), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"audit-torch on torch {version} exited {done.returncode}: "
                           f"{done.stderr.strip()[-500:]}")  # fmt: skip
    data = json.loads(done.stdout)
    with tempfile.TemporaryDirectory(prefix=f"optverify-repro-{version}-") as folder:
        for i, finding in enumerate(data["findings"]):
            _reproduce(python, finding, Path(folder), i)
            print(f"torch {version}: {finding['defect']}: reproduced={finding['reproduced']}",
                  file=log, flush=True)  # fmt: skip
    record = {
        "version": version,
        "python": platform.python_version(),
        "budget": {"max_examples": max_examples, "shrink_seconds": shrink_seconds, "seed": seed},
        "wall_seconds": round(time.perf_counter() - start, 1),
        "defects": sorted({f["defect"] for f in data["findings"] if f["counted"]}),
        **data,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{version}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def run(
    versions: Sequence[str],
    out: Path,
    *,
    venvs: Path | None = None,
    keep: bool = False,
    max_examples: int = THOROUGH_EXAMPLES,
    shrink_seconds: float = THOROUGH_SHRINK_SECONDS,
    seed: int = 0,
) -> int:
    """Audit each version in turn (the next one installing meanwhile); 0 when all ran."""
    here = _installed_here()
    root = venvs or Path(tempfile.mkdtemp(prefix="optverify-history-"))
    root.mkdir(parents=True, exist_ok=True)
    pending: dict[str, tuple[Path, subprocess.Popen[bytes]]] = {}
    failed = 0

    def prepare(i: int) -> None:
        if i < len(versions) and versions[i] != here and versions[i] not in pending:
            pending[versions[i]] = _start_install(versions[i], root)

    prepare(0)
    for i, version in enumerate(versions):
        python: Path | str = sys.executable
        if version != here:
            python, installing = pending.pop(version)
            if installing.wait() != 0:
                print(f"torch {version}: install failed (see {root / version}.install.log)",
                      file=sys.stderr)  # fmt: skip
                failed += 1
                prepare(i + 1)
                continue
        prepare(i + 1)
        try:
            record = run_version(version, python, out, max_examples=max_examples,
                                 shrink_seconds=shrink_seconds, seed=seed)  # fmt: skip
            print(f"torch {version}: {len(record['findings'])} finding(s), "
                  f"{len(record['defects'])} defect(s), {record['wall_seconds']} s -> "
                  f"{out / (version + '.json')}", file=sys.stderr)  # fmt: skip
        except (RuntimeError, json.JSONDecodeError) as error:
            print(f"torch {version}: {error}", file=sys.stderr)
            failed += 1
        finally:
            if version != here and not keep:
                shutil.rmtree(root / version, ignore_errors=True)
    if venvs is None and not keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


def _annotate_folder(folder: Path) -> int:
    paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not paths:
        print(f"optverify.history: {folder}: no VERSION.json records", file=sys.stderr)
        return 2
    for path in paths:
        record = json.loads(path.read_text())
        for finding in record["findings"]:
            annotate(finding)
        record["defects"] = sorted({f["defect"] for f in record["findings"] if f["counted"]})
        path.write_text(json.dumps(record, indent=1) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m optverify.history",
        description="Audit torch releases (audit-torch in a fresh environment per version).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="audit each VERSION into OUT/VERSION.json")
    r.add_argument("versions", nargs="+", metavar="VERSION", help="torch releases, e.g. 2.0.1")
    r.add_argument("--out", type=Path, default=ROOT / "history", help="default: history/")
    r.add_argument("--venvs", type=Path, default=None,
                   help="where the environments go (default: a temporary folder)")  # fmt: skip
    r.add_argument("--keep", action="store_true", help="keep each environment")
    r.add_argument("--max-examples", type=int, default=THOROUGH_EXAMPLES)
    r.add_argument("--shrink-seconds", type=float, default=THOROUGH_SHRINK_SECONDS)
    r.add_argument("--seed", type=int, default=0)
    a = sub.add_parser("annotate", help="recompute defect ids and counted in DIR's records")
    a.add_argument("folder", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    if args.command == "annotate":
        return _annotate_folder(args.folder)
    bad = [v for v in args.versions if not all(p.isdigit() for p in _base(v).split("."))]
    if bad:
        print(f"optverify.history: not a torch version: {bad[0]!r}", file=sys.stderr)
        return 2
    return run(args.versions, args.out, venvs=args.venvs, keep=args.keep,
               max_examples=args.max_examples, shrink_seconds=args.shrink_seconds,
               seed=args.seed)  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
