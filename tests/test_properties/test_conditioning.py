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
from optverify.properties.trajectory import Snapshot, Trajectory, record
from optverify.properties.verdict import judge


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
    """``record(..., nudge="param")`` moves the parameters by one ulp (up or down) before
    the first step and after each; ``nudge="exp_avg"`` moves that state entry only."""
    p0 = torch.tensor([1.0, -2.0], dtype=torch.float64)
    g = torch.tensor([0.5, 0.25], dtype=torch.float64)
    problem = Problem(params=(p0,), groups=((0,),), hyper=({"lr": 0.0},), grads=((g,), (g,)))
    plain = record(torch.optim.Adam, problem)
    param = record(torch.optim.Adam, problem, nudge="param")
    state = record(torch.optim.Adam, problem, nudge="exp_avg")
    eps = torch.finfo(torch.float64).eps
    # lr = 0: only the nudges move the parameters (three: before, after step 1 and 2)
    moved = param.snapshots[1].params[0] / plain.snapshots[1].params[0]
    # each element to the next value up or down (its fixed pseudo-random sign, the same at
    # every nudge): three values away, between 1.5 and 3 ulps of 1 (the spacing halves below
    # a power of two)
    away = (moved - 1).abs() / eps
    assert bool(((away >= 1.5) & (away <= 3)).all()), away
    assert torch.equal(state.snapshots[1].params[0], plain.snapshots[1].params[0])
    assert not torch.equal(state.snapshots[1].state[0]["exp_avg"],
                           plain.snapshots[1].state[0]["exp_avg"])  # fmt: skip
    assert torch.equal(state.snapshots[1].state[0]["exp_avg_sq"],
                       plain.snapshots[1].state[0]["exp_avg_sq"])  # fmt: skip


def test_the_allowance_is_recorded_with_its_evidence() -> None:
    assert tolerances.CONDITIONING >= 1 and 0 < tolerances.ILL_POSED < 1


def _run(*values: float) -> Trajectory:
    return Trajectory({0: Snapshot([torch.tensor(list(values), dtype=torch.float64)], [{}])})


def test_the_conditioning_of_a_step_holds_for_all_its_elements() -> None:
    """The nudged run moves element 1 by 200 units and element 0 not at all: a target 300
    units off at element 0 conforms (the step amplifies rounding), 3 000 units off does
    not; with no amplification anywhere, 300 units is a mismatch."""
    u = 2.0**-53
    problem = Problem(params=(torch.tensor([1.0, 1.0], dtype=torch.float64),), groups=((0,),),
                      hyper=({"lr": 0.5},), grads=((torch.tensor([0.0, 0.0]),),))  # fmt: skip
    refs = {"forloop": _run(1.0, 1.0)}
    amplified = [_run(1.0, 1.0 + 200 * u)]
    for off, expect in ((300, None), (3000, "mismatch")):
        verdict = judge(problem, _run(1.0 + off * u, 1.0), refs, lambda: None,
                        perturbed=lambda: amplified)  # fmt: skip
        assert (verdict.finding.kind if verdict.finding else None) == expect, off
    calm = [_run(1.0, 1.0)]
    verdict = judge(problem, _run(1.0 + 300 * u, 1.0), refs, lambda: None, perturbed=lambda: calm)
    assert verdict.finding is not None and verdict.finding.kind == "mismatch"


def test_a_value_chaotic_at_one_element_is_ill_posed_as_a_whole() -> None:
    """The nudge moves element 1 by 2 % of its scale (beyond ILL_POSED): the value has no
    digits, and element 0, 50 % off, is not judged; moved by 0.5 %, the allowance is
    8 x 0.5 % and the same 50 % is a mismatch."""
    problem = Problem(params=(torch.tensor([1.0, 1.0], dtype=torch.float64),), groups=((0,),),
                      hyper=({"lr": 0.5},), grads=((torch.tensor([0.0, 0.0]),),))  # fmt: skip
    refs = {"forloop": _run(1.0, 1.0)}
    for moved, expect in ((0.02, None), (0.005, "mismatch")):
        verdict = judge(problem, _run(1.5, 1.0), refs, lambda: None,
                        perturbed=lambda m=moved: [_run(1.0, 1.0 + m)])  # fmt: skip
        assert (verdict.finding.kind if verdict.finding else None) == expect, moved
