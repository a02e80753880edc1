"""``optverify fuzz``: work plan, example databases, Ray campaigns, replay, faults.

The Ray tests share one local Ray instance (2 CPUs, loopback, no dashboard) for the module
and a throw-away ``redis-server`` on a free loopback port; they skip with a reason when Ray,
the ``redis`` package or ``redis-server`` is missing. The SIGKILL tests are ``slow``: run
them with ``-m slow`` (or ``OPTVERIFY_SLOW=1``).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis.database import (
    InMemoryExampleDatabase,
    MultiplexedDatabase,
    ReadOnlyDatabase,
)

from optverify import check
from optverify.campaign import plan
from optverify.campaign.database import (
    KEY_PREFIX,
    DatabaseError,
    open_database,
    parse_redis_url,
    redact,
)
from optverify.campaign.progress import Progress
from optverify.cli import build_parser, main
from optverify.optimizers import Adam
from optverify.properties.conformance import NonConformance, assert_conforms, using_database
from tests.fuzz_support import free_port, redis_server, running_task_pids
from tests.planted import AdamEpsInsideSqrt

REPO = Path(__file__).resolve().parents[1]
PLANTED = "tests/planted.py:AdamEpsInsideSqrt"

HAVE_RAY = importlib.util.find_spec("ray") is not None
HAVE_REDIS = importlib.util.find_spec("redis") is not None
HAVE_REDIS_SERVER = shutil.which("redis-server") is not None

needs_redis = pytest.mark.skipif(
    not (HAVE_REDIS and HAVE_REDIS_SERVER),
    reason="needs the redis package and redis-server (apt-get install -y redis-server)",
)
needs_ray = pytest.mark.skipif(
    not HAVE_RAY, reason="needs ray (pip install 'optverify[distributed]')"
)


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def fuzz(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["fuzz", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# ---------------------------------------------------------------------------------------------
# the plan


def _combos(*dtypes: str) -> list[plan.Combo]:
    return [plan.Combo(plan.Pair("m:A", "Adam"), d) for d in dtypes]


def test_tasks_cover_the_budget_round_robin_with_distinct_seeds() -> None:
    combos = _combos("float64", "float32")
    tasks = list(plan.tasks(combos, per_combo=250, chunk=100, base_seed=7))
    assert [(t.combo.dtype, t.index, t.examples) for t in tasks] == [
        ("float64", 0, 100), ("float32", 0, 100), ("float64", 1, 100), ("float32", 1, 100),
        ("float64", 2, 50), ("float32", 2, 50),
    ]  # fmt: skip
    assert len({t.seed for t in tasks}) == len(tasks)
    again = list(plan.tasks(combos, per_combo=250, chunk=100, base_seed=7))
    assert [t.seed for t in again] == [t.seed for t in tasks]
    other = list(plan.tasks(combos, per_combo=250, chunk=100, base_seed=8))
    assert {t.seed for t in other}.isdisjoint(t.seed for t in tasks)


def test_duration_plan_never_ends_and_chunks_are_bounded() -> None:
    endless = plan.tasks(_combos("float64"), per_combo=None, chunk=100, base_seed=0)
    assert len([next(endless) for _ in range(1000)]) == 1000
    assert plan.chunk_size(20_000, 2, 1) == 500
    assert plan.chunk_size(400, 2, 1) == 50
    assert plan.chunk_size(10, 8, 4) == 10
    assert plan.chunk_size(None, 2, 1) == 100
    for budget, workers, combos in [(1, 1, 1), (10**6, 100, 90), (37, 3, 2)]:
        chunk = plan.chunk_size(budget, workers, combos)
        assert 1 <= chunk <= min(500, budget)


def test_list_file_and_all_ours(tmp_path: Path) -> None:
    good = tmp_path / "pairs.txt"
    good.write_text("# ours\noptverify.optimizers:Adam Adam\n\nx.py:B --against SGD  # note\n")
    assert plan.read_list_file(str(good)) == [
        plan.Pair("optverify.optimizers:Adam", "Adam"), plan.Pair("x.py:B", "SGD"),
    ]  # fmt: skip
    bad = tmp_path / "bad.txt"
    bad.write_text("optverify.optimizers:Adam\n")
    with pytest.raises(check.CheckError, match="line 1: expected TARGET REFERENCE"):
        plan.read_list_file(str(bad))
    with pytest.raises(check.CheckError, match="cannot read"):
        plan.read_list_file(str(tmp_path / "missing.txt"))
    ours = plan.all_ours()
    assert len(ours) >= 15 and plan.Pair("optverify.optimizers.adam:Adam", "Adam") in ours
    assert plan.Pair("torch.optim.adam:Adam", "Adam") in plan.all_torch()


def test_progress_line_and_cost() -> None:
    progress = Progress(show=False)
    combo = _combos("float64")[0]
    progress.record(combo, 100, 50, 10.0, None)
    progress.record(combo, 3, 0, 20.0, "MISMATCH: ...")
    assert progress.examples == 103 and progress.findings == 1
    assert progress.seconds_per_million() == pytest.approx(1e5)  # shrinking not counted
    assert "103 examples (+50 edge values)" in progress.line()
    assert "1 finding," in progress.line()


def test_sigterm_unwinds_like_ctrl_c_and_the_handler_is_restored() -> None:
    from optverify.fuzz import _terminate_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), _terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal arrives first
    assert signal.getsignal(signal.SIGTERM) == before


# ---------------------------------------------------------------------------------------------
# databases


def test_parse_redis_url() -> None:
    assert str(parse_redis_url("redis://127.0.0.1:6390/3")) == "redis://127.0.0.1:6390/3"
    assert str(parse_redis_url("redis://db.example")) == "redis://db.example:6379/0"
    assert parse_redis_url("redis://:pw@h:1/0").password == "pw"
    assert redact("redis://:pw@h:1/0") == "redis://***@h:1/0"
    for bad, why in [
        ("http://h:1/0", "expected redis://"),
        ("redis://h:1/x", "must be an integer"),
        ("redis://h:notaport/0", "Port"),
        ("redis:///0", "no host"),
    ]:
        with pytest.raises(DatabaseError, match=why):
            parse_redis_url(bad)


def test_directory_database_and_read_only_view(tmp_path: Path) -> None:
    shared = open_database(str(tmp_path / "shared"), read_only_shared=False)
    shared.save(b"k", b"stored")
    local = tmp_path / "local"
    view = open_database(str(tmp_path / "shared"), read_only_shared=True, local_dir=local)
    assert isinstance(view, MultiplexedDatabase)
    assert set(view.fetch(b"k")) == {b"stored"}
    view.save(b"k", b"new")
    view.delete(b"k", b"stored")
    assert set(shared.fetch(b"k")) == {b"stored"}  # the shared one is never written
    assert set(open_database(str(local), read_only_shared=False).fetch(b"k")) == {b"new"}
    (tmp_path / "file").write_text("")
    with pytest.raises(DatabaseError, match="not a directory"):
        open_database(str(tmp_path / "file"), read_only_shared=False)


def test_database_key_is_per_target_so_one_target_never_prunes_anothers() -> None:
    """Without a key of its own per target, a passing class would replay (and delete) the
    failure stored for another class: the property's function is the same for all."""
    db = InMemoryExampleDatabase()
    with pytest.raises(NonConformance), using_database(db):
        assert_conforms(AdamEpsInsideSqrt, "Adam", max_examples=50, seed=3,
                        dtypes=[torch.float32], shrink=False)  # fmt: skip
    stored = {k: set(v) for k, v in db.data.items() if v}
    assert stored
    assert_conforms(Adam, "Adam", max_examples=5, seed=3, dtypes=[torch.float32], database=db)
    assert {k: set(v) for k, v in db.data.items() if v} == stored
    # the stored failure is the first example of the next run of the same target
    start = time.perf_counter()
    with pytest.raises(NonConformance):
        assert_conforms(AdamEpsInsideSqrt, "Adam", max_examples=50, seed=99,
                        dtypes=[torch.float32], database=db, shrink=False)  # fmt: skip
    assert time.perf_counter() - start < 5


def test_check_replays_a_stored_failure_first_and_leaves_the_shared_db_alone(
    tmp_path: Path,
) -> None:
    """What ``check --db`` does: the stored failure is the first example run, and the shared
    database, seen read-only, is left as it was."""
    shared = InMemoryExampleDatabase()
    argv = ["check", PLANTED, "--against", "Adam", "--dtype", "float32", "--no-shrink"]
    with using_database(shared):
        found = check.execute(build_parser().parse_args([*argv, "--seed", "5"]))
    assert not found.conforms and found.found_after is not None
    before = {k: set(v) for k, v in shared.data.items()}
    local = open_database(str(tmp_path / "local"), read_only_shared=False)
    view = MultiplexedDatabase(local, ReadOnlyDatabase(shared))
    with using_database(view):
        outcome = check.execute(build_parser().parse_args([*argv, "--seed", "12345"]))
    assert not outcome.conforms and outcome.found_after == 1
    assert {k: set(v) for k, v in shared.data.items()} == before


def test_unreachable_redis_is_one_line_and_exit_2_before_any_work(
    capsys: pytest.CaptureFixture[str],
) -> None:
    if not HAVE_REDIS:
        pytest.skip("needs the redis package")
    url = f"redis://127.0.0.1:{free_port()}/0"
    start = time.perf_counter()
    code, out, err = fuzz(capsys, PLANTED, "--against", "Adam", "--db", url, "--workers", "1")
    assert code == 2
    assert one_line(err).startswith(f"optverify fuzz: --db {url}: the Redis server does not answer")
    assert out == ""
    assert time.perf_counter() - start < 10
    with pytest.raises(DatabaseError, match="does not answer"):
        open_database(url, read_only_shared=True)


@needs_ray
def test_unreachable_ray_address_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = f"127.0.0.1:{free_port()}"
    code, _, err = fuzz(capsys, PLANTED, "--against", "Adam", "--ray-address", address)
    assert code == 2
    assert one_line(err).startswith(f"optverify fuzz: --ray-address {address}: nothing answers")
    code, _, err = fuzz(capsys, PLANTED, "--against", "Adam", "--ray-address", "nonsense")
    assert code == 2 and "expected HOST:PORT" in one_line(err)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "nothing to fuzz"),
        ((PLANTED,), "TARGET needs --against"),
        (("--against", "Adam"), "--against goes with a TARGET"),
        ((PLANTED, "--against", "Adamm"), "unknown optimiser 'Adamm'"),
        ((PLANTED, "--against", "Adam", "--dtype", "float8"), "--dtype 'float8': unknown"),
        (("tests/missing.py:X", "--against", "Adam"), "file not found"),
        ((PLANTED, "--against", "Adam", "--set", "lr=-1"), "rejects it"),
        ((PLANTED, "--against", "Adam", "--db", "http://x/0"), "expected redis://"),
        (("--targets", "tests/none.txt"), "cannot read it"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = fuzz(capsys, *args)
    assert code == 2 and out == ""
    assert message in one_line(err)


# ---------------------------------------------------------------------------------------------
# campaigns on Ray (one local instance for the module) with a real Redis


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    if not HAVE_RAY:
        pytest.skip("needs ray (pip install 'optverify[distributed]')")
    import logging

    import ray

    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    ray.init(
        num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
        logging_level=logging.ERROR, log_to_driver=False,
    )  # fmt: skip
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (HAVE_REDIS and HAVE_REDIS_SERVER):
        pytest.skip("needs the redis package and redis-server (apt-get install -y redis-server)")
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


_DATABASE_NUMBERS = itertools.count()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """A database of the module's server that no other test of the module uses."""
    where = parse_redis_url(redis_server_url)
    return f"redis://{where.host}:{where.port}/{next(_DATABASE_NUMBERS) % 16}"


def _stored(url: str) -> dict[bytes, set[bytes]]:
    """Every example stored under optverify's prefix: key -> members."""
    import redis

    where = parse_redis_url(url)
    client = redis.Redis(host=where.host, port=where.port, db=where.db)
    try:
        return {key: set(client.smembers(key)) for key in client.scan_iter(match=KEY_PREFIX + b"*")}
    finally:
        client.close()


def _flush(url: str) -> None:
    import redis

    where = parse_redis_url(url)
    client = redis.Redis(host=where.host, port=where.port, db=where.db)
    client.flushdb()
    client.close()


def _replay(url: str, tmp_path: Path, *argv: str) -> tuple[check.Outcome, float]:
    """``check ARGV --db URL`` as check runs it: the local directory database plus a
    read-only view of the shared one, opened before the run."""
    start = time.perf_counter()
    args = build_parser().parse_args(["check", *argv])
    database = open_database(url, read_only_shared=True, local_dir=tmp_path / "local")
    with using_database(database):
        outcome = check.execute(args)
    return outcome, time.perf_counter() - start


@needs_redis
def test_campaign_finds_planted_bug_and_check_replays_it(
    ray_instance: Any, redis_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _flush(redis_url)
    code, out, err = fuzz(
        capsys, PLANTED, "--against", "Adam", "--dtype", "float32", "--workers", "2",
        "--examples", "200", "--db", redis_url, "--seed", "5", "--shrink-time", "15",
        "--format", "json",
    )  # fmt: skip
    assert code == 1, err
    report = json.loads(out)
    assert report["verdict"] == "mismatch" and report["stopped_by"] == "finding"
    (finding,) = report["findings"]
    assert finding["class"] == "AdamEpsInsideSqrt" and finding["verdict"] == "mismatch"
    assert "Reproduces `optverify check" in finding["repro"]
    assert "--dtype float32" in finding["counterexample"]["rerun"]
    assert any(f"--db {redis_url}" in note for note in finding["notes"])
    assert one_line(err).startswith("optverify fuzz: MISMATCH: AdamEpsInsideSqrt")
    stored = _stored(redis_url)
    assert stored, "the finding was not saved to the shared database"
    outcome, _ = _replay(
        redis_url, tmp_path, PLANTED, "--against", "Adam", "--dtype", "float32", "--seed", "1"
    )
    # replayed from the shared database, among its stored examples (the first, or a later one
    # where a loaded machine cut the campaign's shrinking short and left intermediate ones);
    # its time, ~7 s here, is reported in the closing notes, not asserted
    members = sum(len(v) for v in stored.values())
    assert not outcome.conforms and 1 <= outcome.found_after <= members
    assert _stored(redis_url) == stored  # a local check never writes the shared database


@needs_redis
def test_clean_campaign_runs_its_whole_budget(
    ray_instance: Any, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _flush(redis_url)
    code, out, err = fuzz(
        capsys, "optverify.optimizers:SGD", "--against", "SGD", "--workers", "2",
        "--examples", "40", "--chunk", "20", "--db", redis_url, "--seed", "1", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["verdict"] == "no finding" and report["findings"] == []
    assert report["examples"] == 80 and report["tasks"] == 4
    assert [(r["dtype"], r["examples"]) for r in report["combinations"]] == [
        ("float64", 40), ("float32", 40),
    ]  # fmt: skip
    assert report["worker_seconds_per_million"] > 0
    assert _stored(redis_url) == {}  # passing examples are not stored


@needs_ray
def test_a_stopped_campaign_returns_only_once_its_workers_are_gone(
    ray_instance: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--duration`` ends while both workers are mid-task: the campaign cancels them and
    returns only once they are gone. (A CI run once saw a stopped campaign's worker still
    shrinking its failure into Redis after the next test had flushed the database.)"""
    code, out, err = fuzz(
        capsys, "optverify.optimizers:SGD", "--against", "SGD", "--dtype", "float64",
        "--workers", "2", "--duration", "3", "--chunk", "100000", "--seed", "3",
        "--format", "json",
    )  # fmt: skip
    still_running = running_task_pids()
    assert code == 0, err
    assert json.loads(out)["stopped_by"] == "duration"
    assert still_running == []


# ---------------------------------------------------------------------------------------------
# faults: a SIGKILLed worker (slow: opt in)


@pytest.fixture
def slow_opt_in(request: pytest.FixtureRequest) -> None:
    asked = (
        "slow" in (request.config.getoption("markexpr") or "") or os.getenv("OPTVERIFY_SLOW") == "1"
    )
    if not asked:
        pytest.skip("SIGKILL campaigns: run with -m slow (or OPTVERIFY_SLOW=1)")


def _campaign_with_a_kill(
    capsys: pytest.CaptureFixture[str], after: float, *args: str
) -> tuple[int, dict[str, Any], list[int]]:
    """Run ``fuzz ARGS`` while SIGKILLing the first worker seen running a task for
    ``after`` seconds; (exit code, JSON report, killed pids)."""
    killed: list[int] = []
    done = threading.Event()

    def killer() -> None:
        first_seen: dict[int, float] = {}
        while not done.is_set() and not killed:
            now = time.monotonic()
            for pid in running_task_pids():
                first_seen.setdefault(pid, now)
                if now - first_seen[pid] >= after:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    break
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        code = main(["fuzz", *args, "--format", "json"])
    finally:
        done.set()
        thread.join(timeout=5)
    out = capsys.readouterr().out
    return code, json.loads(out), killed


@needs_redis
@pytest.mark.slow
@pytest.mark.usefixtures("slow_opt_in")
def test_sigkilled_worker_loses_no_finding(
    ray_instance: Any, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _flush(redis_url)
    code, report, killed = _campaign_with_a_kill(
        capsys, 3.0, PLANTED, "--against", "Adam", "--dtype", "float32", "--workers", "2",
        "--examples", "100", "--chunk", "50", "--db", redis_url, "--seed", "5",
    )  # fmt: skip
    assert killed, "no worker was killed"
    assert code == 1 and report["verdict"] == "mismatch" and report["lost_tasks"] == []
    assert report["findings"][0]["class"] == "AdamEpsInsideSqrt"
    assert _stored(redis_url)


@pytest.mark.slow
@pytest.mark.usefixtures("slow_opt_in")
def test_sigkilled_worker_campaign_still_runs_every_example(
    ray_instance: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, killed = _campaign_with_a_kill(
        capsys, 2.0, "optverify.optimizers:SGD", "--against", "SGD", "--dtype", "float64",
        "--workers", "2", "--examples", "60", "--chunk", "20", "--seed", "2",
    )  # fmt: skip
    assert killed, "no worker was killed"
    assert code == 0 and report["verdict"] == "no finding" and report["lost_tasks"] == []
    assert report["examples"] == 60 and report["tasks"] == 3


@pytest.mark.slow
@pytest.mark.usefixtures("slow_opt_in")
def test_list_file_campaign_stops_only_the_pair_with_a_finding(
    ray_instance: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{PLANTED} Adam\noptverify.optimizers:SGD SGD\n")
    code, out, err = fuzz(
        capsys, "--targets", str(pairs), "--dtype", "float32", "--workers", "2",
        "--examples", "40", "--chunk", "20", "--seed", "3", "--shrink-time", "5",
        "--format", "json",
    )  # fmt: skip
    assert code == 1, err
    report = json.loads(out)
    assert [f["class"] for f in report["findings"]] == ["AdamEpsInsideSqrt"]
    rows = {r["target"].rsplit(":", 1)[1]: r for r in report["combinations"]}
    assert rows["AdamEpsInsideSqrt"]["verdict"] == "mismatch"
    assert rows["SGD"]["verdict"] == "no finding" and rows["SGD"]["examples"] == 40
