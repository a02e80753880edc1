"""One test per S/N/A/T claim: the check runs, and its evidence backs its verdict."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

from optverify.analytic import adaptive, ema, learning_rate, momentum, numbers
from optverify.analytic._common import is_zero
from optverify.analytic.claims import CLAIMS

OURS = sorted(cid for cid, c in CLAIMS.items() if c.kind in "SNAT")

EXPECTED = {
    # the verdicts as computed today; a change means the maths or torch changed
    "N004.ema.sum": "fails",
    "N000.code.runs": "fails",
    "N002.code.runs": "fails",
    "N003.optim.list": "holds",
    "N004.gd.maxlr": "holds",
    "N004.mom.versions": "holds-if",
    "N003.adamax.bound": "holds-if",
    "N004.mom.maxlr": "holds",
}


@pytest.mark.parametrize("cid", OURS)
def test_check_runs_with_evidence(cid: str, decided: dict) -> None:
    out = decided[cid]
    if CLAIMS[cid].kind == "A" and out.verdict == "not-available":
        pytest.skip("notes not available")
    assert out.verdict in ("holds", "fails", "holds-if"), out.summary
    assert out.evidence, "every verdict carries evidence"
    if out.verdict == "holds-if":
        assert out.condition and out.outside
    if cid in EXPECTED:
        assert out.verdict == EXPECTED[cid]


@pytest.mark.parametrize("cid", sorted(c for c in OURS if CLAIMS[c].kind == "N"))
def test_numbers_reproduce_printed_digits(cid: str, decided: dict) -> None:
    tab = next(e for e in decided[cid].evidence if e.kind == "table")
    eq = next(tab.columns.index(c) for c in ("agree", "equal", "about one") if c in tab.columns)
    assert all(r[eq] is True for r in tab.rows)
    if "on cited line" in tab.columns:
        assert all(r[tab.columns.index("on cited line")] != "NO" for r in tab.rows)


def test_trajectory_end_points_as_printed() -> None:
    for _cid, _label, step, hyper, printed, _line in numbers.TRAJECTORIES:
        x1, x2 = numbers.trajectory(step, hyper)[-1]
        assert "epoch %d, x1 %f, x2 %f" % (20, x1, x2) == printed  # noqa: UP031


def test_ema_sum_off_by_one() -> None:
    t = sp.Symbol("t", integer=True, nonnegative=True)
    lhs = ema.ema_weight_sum(0, t).subs(ema.beta, sp.Rational(1, 3))
    for n in range(4):
        assert lhs.subs(t, n) == 1 - sp.Rational(1, 3) ** (n + 1)
        if n == 0:
            assert lhs.subs(t, n) != 1 - sp.Rational(1, 3) ** n


def test_momentum_velocity_closed_form() -> None:
    for k in (1, 3, 6):
        v = momentum.velocity(k)[-1]
        assert is_zero(
            v - momentum.eta * momentum.g * (1 - momentum.gamma**k) / (1 - momentum.gamma)
        )


def test_stable_intervals() -> None:
    assert learning_rate.gd_interval(learning_rate.H_003) == sp.Interval.open(0, sp.Rational(1, 4))
    assert learning_rate.gd_interval(learning_rate.H_004) == sp.Interval.open(0, sp.Rational(1, 2))
    assert learning_rate.momentum_interval(
        learning_rate.H_004, sp.Rational(1, 2)
    ) == sp.Interval.open(0, sp.Rational(3, 4))
    # the boundary agrees with the numeric spectral radius
    assert (
        learning_rate.spectral_radius(0.749, 0.5, [0.2, 4.0])
        < 1
        < learning_rate.spectral_radius(0.751, 0.5, [0.2, 4.0])
    )


def test_adamax_bound_is_attained_by_torch() -> None:
    b = float(adaptive.adamax_step_bound(sp.Rational(9, 10), sp.Rational(19, 20), sp.Integer(30)))
    got = adaptive._torch_adamax_growing(0.9, 0.95, 30)
    assert math.isclose(got, b, rel_tol=1e-9) and got > 1.0


def test_sgd_momentum_matches_heavy_ball_rate() -> None:
    xs = momentum._torch_sgd(0.03, 0.0, steps=10)
    assert math.isclose(abs(xs[-1]), 2 * 0.76**10, rel_tol=1e-5)
    assert torch.__version__.startswith("2.13")
