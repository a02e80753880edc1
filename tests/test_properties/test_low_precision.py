"""Ours is bit-for-bit equal to torch's for-loop path in bfloat16 and float16, wherever
torch supports the optimiser on the device (``Spec.dtypes``; torch 2.13 takes both on the
CPU for all 15)."""

from __future__ import annotations

import pytest
import torch

from optverify.properties.conformance import assert_conforms
from tests._support import NAMES, seed_for_profile, spec

LOW_PRECISION = [torch.bfloat16, torch.float16]
COMPLEX = [torch.complex64, torch.complex128]
#: examples per (optimiser, dtype): the float64/float32 conformance test carries the budget
SMALL = 30


def _ids(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@pytest.mark.parametrize("dtype", LOW_PRECISION, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_low_precision_bit_for_bit(name: str, dtype: torch.dtype) -> None:
    if dtype not in spec(name).dtypes:
        pytest.skip(f"torch.optim.{name} does not take {dtype} on the CPU")
    summary = assert_conforms(
        spec(name).ours, name, dtypes=[dtype], tolerance="exact", max_examples=SMALL,
        seed=seed_for_profile(),
    )  # fmt: skip
    assert summary.examples > 0
