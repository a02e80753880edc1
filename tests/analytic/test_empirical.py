"""The E checks run within their time budget, and their statistics behave."""

from __future__ import annotations

import math
import time

import pytest
import torch

from optverify.analytic import empirical
from optverify.analytic.verdict import Context, Verdict

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def results(request: pytest.FixtureRequest, have_notes: bool) -> tuple[dict[str, Verdict], float]:
    """The E checks' verdicts: taken from the run's claim decisions where the notes are
    present (the same checks, decided once per run), else run here."""
    start = time.perf_counter()
    if have_notes:
        decided = request.getfixturevalue("decided")
        out = {cid: decided[cid] for cid in empirical.CHECKS}
    else:
        out = {cid: check(Context()) for cid, check in empirical.CHECKS.items()}
    return out, time.perf_counter() - start


def test_every_e_claim_is_checked() -> None:
    assert set(empirical.CHECKS) == {
        "N000.sgd.lr1",
        "N000.sgd.batch",
        "N001.rmsprop.alpha",
        "N002.opt.compare",
    }


def test_checks_decide_with_evidence(results: tuple[dict[str, Verdict], float]) -> None:
    # The run time is evidence (reported), never asserted: speed belongs to benchmarks.
    verdicts, _seconds = results
    for cid, v in verdicts.items():
        assert v.verdict in ("holds", "fails", "holds-if"), cid
        kinds = {e.kind for e in v.evidence}
        assert {"text", "table", "numbers"} <= kinds, cid
        timing = [e for e in v.evidence if e.title == "run time"]
        assert timing and timing[0].data["seconds"] >= 0


def test_data_is_deterministic_and_in_range() -> None:
    x1, y1 = empirical.digits(64, seed=3)
    x2, y2 = empirical.digits(64, seed=3)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert float(x1.min()) >= -1 and float(x1.max()) <= 1
    assert x1.shape == (64, empirical.SIDE**2) and set(y1.tolist()) <= set(range(10))


def test_paired_statistics() -> None:
    assert empirical.paired([1.0, 1.1, 0.9, 1.0, 1.05]).significant
    assert not empirical.paired([1.0, -0.1, 0.9, 1.0, 1.05]).significant
    assert not empirical.paired([0.1, 5.0, 0.1, 0.1, 0.1]).significant  # mean < 3 SE
    p = empirical.paired([1.0, 3.0])
    assert p.mean == 2.0 and p.se == pytest.approx(1.0)


def test_noise_measure() -> None:
    smooth = [math.exp(-k / 100) for k in range(300)]
    wiggly = [v * (3.0 if k % 2 else 1.0) for k, v in enumerate(smooth)]
    assert empirical.noise(smooth) < 1e-3 < empirical.noise(wiggly)
