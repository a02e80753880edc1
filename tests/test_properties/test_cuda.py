"""The same properties on CUDA: ours and torch on the GPU in every mode, and CPU vs CUDA.

Skipped, with the reason, when no CUDA device is present.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import torch
from hypothesis import given

from optverify.optimizers import fast
from optverify.properties import tolerances
from optverify.properties.comparison import compare_values
from optverify.properties.conformance import assert_conforms
from optverify.properties.harness import Problem, run_lockstep, run_problem
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


# ---------------------------------------------------------------------------------------------
# the fast paths on CUDA (optimizers.fast): what ``python -m tests.bench.cuda`` times


@pytest.mark.parametrize("name", sorted(fast.FAST))
def test_multi_tensor_conforms_on_cuda(name: str) -> None:
    summary = assert_conforms(
        fast.FAST[name], name, device="cuda", dtypes=[torch.float32], tolerance="faithful",
        seed=seed_for_profile(),
    )  # fmt: skip
    assert summary.examples > 0


@pytest.mark.parametrize("name", sorted(fast.FAST))
def test_compiled_on_cuda_matches_readable_and_torch(name: str) -> None:
    """The compiled class on CUDA (inductor's Triton kernels): 16 tensors, the nine under
    100 elements updated as one flat buffer, which with the seven others makes eight rows:
    one compiled graph for the group. Five steps of fixed gradients agree with the readable
    class and torch's for-loop, both on CUDA too."""
    from optverify.optimizers._fast import _group

    hyper: dict[str, Any] = {"lr": 0.01} | ({"momentum": 0.9} if name == "SGD" else {})
    gen = torch.Generator().manual_seed(3)
    small = [(7, 3), (5,), (1,)] + [(11, 2)] * 6
    large = [(70_000,), (64, 33), (200,), (150,), (3, 50), (101,), (2, 3, 20)]
    assert 1 + len(large) >= _group.GROUP_MIN_ROWS  # the graph path
    shapes = small + large
    params = tuple(torch.randn(s, generator=gen) + 3 for s in shapes)
    grads = tuple(tuple(torch.randn(s, generator=gen) for s in shapes) for _ in range(5))
    problem = Problem(params=params, groups=(tuple(range(len(shapes))),), hyper=(hyper,),
                      grads=grads)  # fmt: skip
    on_gpu = _to(problem, "cuda")
    compiled = factory(type(name, (fast.COMPILED[name],), {"compile_min_numel": 100}))
    for reference in (factory(spec(name).ours), factory(spec(name).reference, foreach=False)):
        found = run_lockstep(compiled, reference, on_gpu, tolerances.faithful)
        assert found is None, f"Compiled{name} on CUDA: {found}"
