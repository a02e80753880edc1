"""Defects of torch 2.13 (CPU) that ``optverify audit-torch`` found: torch's implementations of
one optimiser disagree beyond rounding. Each is a strict xfail on its minimal problem (as the
audit shrank it, written as code): it asserts that torch's implementations agree, so it
fails while the defect is there and turns into an error (XPASS) once torch fixes it.

Each check is :func:`optverify.properties.audit.audit_problem`, the comparison the audit and
its repro scripts run (``optverify audit-torch --out DIR`` writes the scripts).
"""

from __future__ import annotations

import math

import pytest
import torch

from optverify.properties.audit import audit_problem
from optverify.properties.harness import Problem

DTYPES = [torch.float64, torch.float32, torch.float16, torch.bfloat16]


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "torch 2.13 CPU fused kernels (_fused_sgd, _fused_adam, _fused_adamw, _fused_adagrad) "
        "treat a non-contiguous parameter as contiguous: on a view of every other element of a "
        "buffer they write into the gaps between its elements and leave its second half "
        "unchanged (SGD, lr 0.5, p=[1,2,3,4], g=1: fused gives [0.5, 1.5, 3, 4], the "
        "for-loop [0.5, 1.5, 2.5, 3.5]); audit-torch class: mismatch"
    ),
)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_fused_kernels_on_a_strided_parameter(name: str, dtype: torch.dtype) -> None:
    problem = Problem(
        params=(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=dtype),),
        groups=((0,),),
        hyper=({"lr": 0.5},),
        grads=((torch.ones(4, dtype=dtype),),),
        layouts=("strided",),
    )
    found = audit_problem(name, "fused", problem)
    assert found is None, str(found)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "torch 2.13 CPU SGD(fused=True) with momentum raises TypeError ('expected Tensor as "
        "element 1 in argument 2, but got NoneType') when a parameter that had no gradient "
        "at the first step (no momentum buffer yet) gets one later; the for-loop and foreach "
        "paths create the buffer then; audit-torch class: validation"
    ),
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16], ids=str)
def test_fused_sgd_momentum_after_a_missing_gradient(dtype: torch.dtype) -> None:
    one = torch.tensor(1.0, dtype=dtype)
    problem = Problem(
        params=(one.clone(), one.clone()),
        groups=((0, 1),),
        hyper=({"lr": 0.1, "momentum": 0.5, "nesterov": True},),
        grads=((one.clone(), None), (one.clone(), one.clone())),
    )
    found = audit_problem("SGD", "fused", problem)
    assert found is None, str(found)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "torch 2.13 CPU SGD(fused=True), float16, lr=0: a +inf gradient element beyond the "
        "first SIMD vector leaves the parameter finite where the for-loop (and the maths, "
        "0*inf) gives NaN (the same root cause as "
        "test_fused_sgd_half_skips_the_vectorised_part, seen through a non-finite value); "
        "audit-torch class: overflow (finite where torch is not)"
    ),
)
def test_fused_sgd_float16_zero_lr_and_an_inf_gradient() -> None:
    dtype = torch.float16
    g = torch.ones(17, dtype=dtype)
    g[0] = math.inf
    problem = Problem(
        params=(torch.tensor(1.5, dtype=dtype), torch.ones(17, dtype=dtype)),
        groups=((0, 1),),
        hyper=({"lr": 0.0},),
        grads=((torch.tensor(1.5, dtype=dtype), g),),
    )
    found = audit_problem("SGD", "fused", problem)
    assert found is None, str(found)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "torch 2.13 CPU ASGD(foreach=True) and ASGD(foreach=False) part on float64 (and "
        "complex128) parameters from step 3 on by ~1e6 float64 ulps of the parameter (1.7e-10 "
        "absolute on an update of 1.5e-3: float32 rounding): both keep eta and mu as float32 "
        "tensors and apply them differently; the float64 oracle is the for-loop; audit-torch "
        "class: mismatch"
    ),
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128], ids=str)
def test_asgd_foreach_rounds_to_float32_on_float64_parameters(dtype: torch.dtype) -> None:
    p = torch.tensor(1.5 - 0.25j if dtype.is_complex else 1.5, dtype=dtype)
    problem = Problem(
        params=(p,),
        groups=((0,),),
        hyper=({"lr": 0.001, "lambd": 0.0001, "alpha": 0.75, "t0": 0.0},),
        grads=tuple((p.clone(),) for _ in range(3)),
    )
    found = audit_problem("ASGD", "foreach", problem)
    assert found is None, str(found)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "torch 2.13 CPU Adam/AdamW(fused=True, amsgrad=True): max_exp_avg_sq takes the "
        "maximum ignoring NaN (0.0 after a NaN gradient) where the for-loop and foreach "
        "propagate it (torch.maximum: NaN), so the fused state recovers from a NaN gradient "
        "and the others' does not; audit-torch class: mismatch (finite where the maths is not)"
    ),
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_fused_amsgrad_drops_a_nan(name: str, dtype: torch.dtype) -> None:
    problem = Problem(
        params=(torch.tensor([1.0, 1.0], dtype=dtype),),
        groups=((0,),),
        hyper=({"lr": 0.001, "amsgrad": True},),
        grads=((torch.tensor([math.nan, 1.0], dtype=dtype),),),
    )
    found = audit_problem(name, "fused", problem)
    assert found is None, str(found)


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason=(
        "torch 2.13 CPU SGD(fused=True) on bfloat16 and float16 parameters (no momentum) leaves "
        "the "
        "elements of the vectorised part unchanged (the first 16 of 17, the first 64 of 66): "
        "only the scalar tail is updated (p=0, g=1, lr 0.001: fused 0.0 where the for-loop "
        "gives -0.001); audit-torch class: mismatch"
    ),
)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("n", [16, 17, 66])
def test_fused_sgd_half_skips_the_vectorised_part(n: int, dtype: torch.dtype) -> None:
    problem = Problem(
        params=(torch.zeros(n, dtype=dtype),),
        groups=((0,),),
        hyper=({"lr": 0.001},),
        grads=((torch.ones(n, dtype=dtype),),),
    )
    found = audit_problem("SGD", "fused", problem)
    assert found is None, str(found)
