"""The same properties on CUDA: ours and torch on the GPU in every mode, and CPU vs CUDA.

Skipped, with the reason, when no CUDA device is present.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import given

from optverify.properties import tolerances
from optverify.properties.comparison import compare_values
from optverify.properties.conformance import assert_conforms
from optverify.properties.harness import Problem, run_problem
from optverify.properties.strategies import problems
from optverify.properties.targets import factory, mode_kwargs
from tests._support import DENSE_NAMES, seed_for_profile, spec

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", DENSE_NAMES)
def test_ours_conforms_on_cuda(name: str, dtype: torch.dtype) -> None:
    summary = assert_conforms(
        spec(name).ours, name, device="cuda", dtypes=[dtype], tolerance="exact",
        seed=seed_for_profile(),
    )  # fmt: skip
    assert summary.examples > 0


def _to(problem: Problem, device: str) -> Problem:
    def move(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.to(device)

    return replace(
        problem,
        params=tuple(p.to(device) for p in problem.params),
        grads=tuple(tuple(move(g) for g in row) for row in problem.grads),
    )


@pytest.mark.parametrize("name", DENSE_NAMES)
def test_cpu_and_cuda_agree(name: str) -> None:
    """torch's for-loop path on the CPU and on CUDA agree faithfully, and so do ours."""
    s = spec(name)

    @given(problem=problems(s.hyper, param_shapes=s.param_shapes, finite_squares=True))
    def agree(problem: Problem) -> None:
        for cls in (s.reference, s.ours):
            on_cpu = run_problem(factory(cls, **mode_kwargs(s, "forloop")), problem)
            on_gpu = run_problem(factory(cls, **mode_kwargs(s, "forloop")), _to(problem, "cuda"))
            for i, (a, b) in enumerate(zip(on_cpu.params, on_gpu.params, strict=True)):
                ok, max_abs, _, why = compare_values(a, b.cpu(), tolerances.faithful)
                assert ok, f"{cls.__name__} param {i}: CPU vs CUDA {why} ({max_abs:.3g})"

    agree()
