"""More deliberately broken optimisers, for the optimisers beyond ``tests/planted.py``.

Each bug is our correct code with one textual change, made by :func:`_rebuilt`: it takes the
source of a function of ours, replaces one exact line (asserting that it occurs once) and
compiles the result in the function's module namespace. So the pair ``(old, new)`` written
beside each class *is* the bug, and the class stays in step with ours as ours evolves.
``tests/test_properties/test_self_check_more.py`` asserts that each is rejected.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from optverify import optimizers
from optverify.optimizers import adafactor, asgd, muon, nadam, radam, rprop, sparse_adam


def _rebuilt(
    func: Callable[..., Any], replacements: list[tuple[str, str]], **names: Any
) -> Callable[..., Any]:
    """``func`` recompiled with each ``old`` text replaced by ``new``.

    ``names`` rebind globals of the recompiled function (e.g. the core ``step`` a method
    calls, pointed at a bugged core).
    """
    source = textwrap.dedent(inspect.getsource(func))
    for old, new in replacements:
        if source.count(old) != 1:
            raise AssertionError(f"{func.__qualname__}: {old!r} occurs {source.count(old)} times")
        source = source.replace(old, new)
    namespace = dict(inspect.unwrap(func).__globals__)
    exec(compile(source, f"<planted {func.__qualname__}>", "exec"), namespace)
    rebuilt = namespace[func.__name__]
    namespace.update(names)
    return rebuilt  # type: ignore[no-any-return]


class RpropZeroIsSignChange(optimizers.Rprop):
    """A zero product g_t p_{t-1} (a zero gradient, or the first step) is treated as a sign
    change: η₋ and the gradient zeroed, instead of keeping the step size (f = 1)."""

    step_param = _rebuilt(
        rprop.step,
        [("factor.masked_fill(factor.eq(0), 1)", "factor.masked_fill(factor.eq(0), cfg.etaminus)")],
    )


class RAdamThresholdFour(optimizers.RAdam):
    """Rectification from ρ_t > 4 (the paper's threshold) instead of torch's ρ_t > 5."""

    step_param = _rebuilt(
        radam.step, [],
        rectification=_rebuilt(radam.rectification, [("if rho_t > 5.0:", "if rho_t > 4.0:")]),
    )  # fmt: skip


class NAdamMuProductAheadByOne(optimizers.NAdam):
    """Π_t accumulates μ_{t+1} instead of μ_t (the product one step ahead)."""

    step_param = _rebuilt(
        nadam.step,
        [("(state.mu_product * mu).to(", "(state.mu_product * mu_next).to(")],
    )


_adafactor_step = _rebuilt(
    adafactor.step,
    [
        (".square().div(g.size(-1))  # ||g||^2_row", ".square().div(g.size(-2))  # ||g||^2_row"),
        (".square().div(g.size(-2))  # ||g||^2_col", ".square().div(g.size(-1))  # ||g||^2_col"),
    ],
)


class AdafactorRowColSwapped(optimizers.Adafactor):
    """The row factor is normalised by the number of rows and the column factor by the number
    of columns (the two sizes swapped): R and C are off by n/m and m/n."""

    step_param = _adafactor_step


class LBFGSDropsNewestPair(optimizers.LBFGS):
    """When the memory is full, the newest curvature pair is dropped instead of the oldest."""

    step = _rebuilt(  # type: ignore[assignment]
        optimizers.LBFGS.step,
        [
            ("old_dirs.pop(0)", "old_dirs.pop()"),
            ("old_stps.pop(0)", "old_stps.pop()"),
            ("ro.pop(0)", "ro.pop()"),
        ],
    )


class LBFGSHistoryNotTrimmed(optimizers.LBFGS):
    """The memory is never trimmed (``history_size`` ignored): the two-loop scratch list is
    too short and the step fails where torch's succeeds."""

    step = _rebuilt(  # type: ignore[assignment]
        optimizers.LBFGS.step, [("if len(old_dirs) == history_size:", "if False:")]
    )


class ASGDAveragesFromStart(optimizers.ASGD):
    """μ_t = 1/max(1, t) (averaging from step 0) instead of 1/max(1, t − t₀)."""

    step_param = _rebuilt(asgd.step, [("1 / max(1, t - cfg.t0)", "1 / max(1, t)")])


def _sparse_adam_dense_rows(
    param: Tensor, grad: Tensor, state: sparse_adam.SparseAdamState, cfg: Any
) -> tuple[Tensor, sparse_adam.SparseAdamState]:
    """SparseAdam that also moves rows without a gradient (by their stale m, v), as dense
    Adam would; rows with a gradient are updated correctly."""
    new_param, new_state = sparse_adam.step(param, grad, state, cfg)
    g = grad.coalesce()
    if g._nnz() == 0:
        return new_param, new_state
    t = new_state.step
    step_size = float(cfg.lr) * (1 - cfg.beta2**t) ** 0.5 / (1 - cfg.beta1**t)
    denom = new_state.exp_avg_sq.sqrt().add(cfg.eps)
    dense = param.addcdiv(new_state.exp_avg, denom, value=-step_size)
    present = torch.zeros_like(param, dtype=torch.bool)
    present[tuple(g.indices())] = True
    return torch.where(present, new_param, dense), new_state


class SparseAdamUpdatesAbsentRows(optimizers.SparseAdam):
    """Rows that received no gradient this step still move (by their stale moments)."""

    step_param = _sparse_adam_dense_rows


_muon_ns_swapped = _rebuilt(
    muon.newton_schulz, [("a, b, c = coefficients", "a, c, b = coefficients")]
)
_muon_step_ns_swapped = _rebuilt(muon.step, [], newton_schulz=_muon_ns_swapped)


class MuonCoefficientsSwapped(optimizers.Muon):
    """Newton–Schulz with the coefficients (a, b, c) read as (a, c, b)."""

    step_param = _muon_step_ns_swapped


_muon_step_no_nesterov = _rebuilt(
    muon.step,
    [],
    _momentum=_rebuilt(muon._momentum, [("if cfg.nesterov else buf", "if False else buf")]),
)


class MuonNesterovIgnored(optimizers.Muon):
    """``nesterov=True`` ignored: the update orthogonalises B_t, not lerp(g_t, B_t, μ)."""

    step_param = _muon_step_no_nesterov


#: bug class -> the torch optimiser it claims to be
PLANTED_MORE: dict[type, str] = {
    RpropZeroIsSignChange: "Rprop",
    RAdamThresholdFour: "RAdam",
    NAdamMuProductAheadByOne: "NAdam",
    AdafactorRowColSwapped: "Adafactor",
    LBFGSDropsNewestPair: "LBFGS",
    LBFGSHistoryNotTrimmed: "LBFGS",
    ASGDAveragesFromStart: "ASGD",
    SparseAdamUpdatesAbsentRows: "SparseAdam",
    MuonCoefficientsSwapped: "Muon",
    MuonNesterovIgnored: "Muon",
}
