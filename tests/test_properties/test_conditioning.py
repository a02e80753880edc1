"""The conditioning allowance of the verdict model (tolerances.CONDITIONING, ILL_POSED).

torch's Adam with its parameters moved up by ``n`` ulps after every step is a correct
implementation whose roundings differ from the for-loop's by ``n`` ulps a step: with n = 1
it must conform on every drawn problem, ill-conditioned ones included (where one ulp a step
is amplified far beyond the plain budget); with many ulps a step it must not.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from optverify.properties import tolerances
from optverify.properties.conformance import NonConformance, assert_conforms
from optverify.properties.harness import Problem
from optverify.properties.trajectory import record


def nudged_adam(ulps: int) -> type[torch.optim.Adam]:
    class NudgedAdam(torch.optim.Adam):
        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:  # type: ignore[override]
            loss = super().step(closure)
            for group in self.param_groups:
                for p in group["params"]:
                    if p.is_floating_point() and p.numel():
                        eps = torch.finfo(p.dtype).eps
                        p.copy_((p.double() * (1 + ulps * eps)).to(p.dtype))
            return loss

    NudgedAdam.__name__ = NudgedAdam.__qualname__ = f"NudgedAdam{ulps}"
    return NudgedAdam


REAL = [torch.float64, torch.float32]


def test_one_ulp_a_step_conforms_on_every_problem() -> None:
    assert_conforms(nudged_adam(1), "Adam", dtypes=REAL, max_examples=30, seed=0, sparse=False)


def test_many_ulps_a_step_is_a_mismatch() -> None:
    with pytest.raises(NonConformance) as caught:
        assert_conforms(nudged_adam(64), "Adam", dtypes=REAL, max_examples=30, seed=0,
                        sparse=False, shrink=False)  # fmt: skip
    assert caught.value.finding is not None and caught.value.finding.kind == "mismatch"


def test_the_nudged_run_moves_only_what_it_names() -> None:
    """``record(..., nudge="param")`` moves the parameters by one ulp before the first step
    and after each; ``nudge="exp_avg"`` moves that state entry only."""
    p0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    g = torch.tensor([0.5, 0.25], dtype=torch.float64)
    problem = Problem(params=(p0,), groups=((0,),), hyper=({"lr": 0.0},), grads=((g,), (g,)))
    plain = record(torch.optim.Adam, problem)
    param = record(torch.optim.Adam, problem, nudge="param")
    state = record(torch.optim.Adam, problem, nudge="exp_avg")
    eps = torch.finfo(torch.float64).eps
    # lr = 0: only the nudges move the parameters (three: before, after step 1 and 2)
    moved = param.snapshots[1].params[0] / plain.snapshots[1].params[0]
    assert torch.allclose(moved, torch.full_like(moved, (1 + eps) ** 3), rtol=0, atol=4 * eps)
    assert torch.equal(state.snapshots[1].params[0], plain.snapshots[1].params[0])
    assert not torch.equal(state.snapshots[1].state[0]["exp_avg"],
                           plain.snapshots[1].state[0]["exp_avg"])  # fmt: skip
    assert torch.equal(state.snapshots[1].state[0]["exp_avg_sq"],
                       plain.snapshots[1].state[0]["exp_avg_sq"])  # fmt: skip


def test_the_allowance_is_recorded_with_its_evidence() -> None:
    assert tolerances.CONDITIONING >= 1 and 0 < tolerances.ILL_POSED < 1
