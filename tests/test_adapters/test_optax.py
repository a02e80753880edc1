"""optax aliases against torch.optim: the shell adds no error; the known differences show.

Sources cited: optax 0.2.8 (``optax/_src/alias.py``, ``optax/_src/transform.py``,
``optax/tree_utils/_tree_math.py``).
"""

from __future__ import annotations

import math

import pytest
import torch

from optverify.adapters import load_adapter, pins_for
from optverify.adapters.optax_shell import OptaxOptimizer
from optverify.properties.conformance import NonConformance, assert_conforms
from optverify.properties.harness import run_lockstep
from optverify.properties.tolerances import faithful
from tests.test_adapters._support import float_lr, one_param_problem, run

_NEEDS = "optax adapters need the jax extra: pip install 'optverify[jax]'"
pytest.importorskip("jax", reason=_NEEDS)
pytest.importorskip("optax", reason=_NEEDS)


EXAMPLES = 12


def _conforms(target: str, against: str, **sets: object) -> None:
    cls = load_adapter(target)
    assert_conforms(
        cls, against, max_examples=EXAMPLES, seed=0, dtypes=[torch.float64, torch.float32],
        problem_builder=float_lr(), **pins_for(cls, against, sets),
    )  # fmt: skip


def test_sgd_conforms() -> None:
    """momentum (0 -> optax's None), nesterov, lr schedules, groups, None grads, reloads."""
    _conforms("optax:sgd", "SGD")


def test_adamax_conforms() -> None:
    """optax's infinity moment max(|g| + ε, β2 u) is torch's (transform.py:393-426)."""
    _conforms("optax:adamax", "Adamax")


def test_a_shell_that_ignores_lr_changes_fails() -> None:
    """The conformance tests can fail: a shell that keeps the first lr is caught."""
    base = load_adapter("optax:sgd")

    class FirstLrOnly(base):  # type: ignore[misc, valid-type]
        def _step_param(self, p, grad, library_kwargs):  # type: ignore[no-untyped-def]
            first = self.__dict__.setdefault("_first_lr", library_kwargs["learning_rate"])
            super()._step_param(p, grad, {**library_kwargs, "learning_rate": first})

    with pytest.raises(NonConformance, match="mismatch"):
        assert_conforms(
            FirstLrOnly, "SGD", max_examples=60, seed=0, dtypes=[torch.float64], shrink=False,
            problem_builder=float_lr(), **pins_for(FirstLrOnly, "SGD"),
        )  # fmt: skip


def test_a_subnormal_lr_is_flushed_to_zero() -> None:
    """XLA on the CPU flushes subnormal floats to zero: lr = 2^-1023 times g = inf is
    0 * inf = NaN in optax, -inf in torch (a real difference the default coverage reaches
    through its non-finite gradients and subnormal hyperparameters)."""
    problem = one_param_problem([math.inf], {"lr": 2.0**-1023})
    ours, _ = run(load_adapter("optax:sgd"), problem)
    theirs, _ = run(torch.optim.SGD, problem)
    assert math.isnan(ours) and theirs == -math.inf


def test_float32_betas_near_one_keep_their_precision() -> None:
    """1 - β1 is formed at full precision (the shell passes Python scalars to jit): with
    β1 = 0.9999999 a float32 hyperparameter would make 1 - β1 = 1.19e-7, not 1e-7."""
    cls = load_adapter("optax:adamax")
    p = torch.tensor(1.0, requires_grad=True)
    opt = cls([p], lr=0.0, betas=(0.9999999, 0.0), eps=0.0)
    p.grad = torch.tensor(1.0)
    opt.step()
    assert opt.state[p]["exp_avg"].item() == pytest.approx(1e-7, rel=1e-6)


def test_rmsprop_eps_inside_the_root() -> None:
    """optax's rmsprop: g / sqrt(ν + ε) by default (``eps_in_sqrt=True``, alias.py:1940,
    transform.py:139-142); torch: g / (sqrt(ν) + ε)."""
    problem = one_param_problem([1e-4], {"lr": 0.01, "alpha": 0.99, "eps": 1e-8})
    cls = load_adapter("optax:rmsprop")
    nu = 0.01 * 1e-8
    ours, state = run(cls, problem)
    theirs, _ = run(torch.optim.RMSprop, problem)
    assert ours == pytest.approx(1 - 0.01 * 1e-4 / math.sqrt(nu + 1e-8), rel=1e-14)
    assert theirs == pytest.approx(1 - 0.01 * 1e-4 / (math.sqrt(nu) + 1e-8), rel=1e-14)
    assert state["square_avg"] == pytest.approx(nu, rel=1e-14)
    found = run_lockstep(lambda g: cls(g), lambda g: torch.optim.RMSprop(g), problem, faithful)
    assert found is not None and found.what == "param"


def test_rmsprop_with_eps_outside_conforms() -> None:
    """The same alias with ``eps_in_sqrt=False`` (a module:function factory) conforms: the
    ε placement is the difference, and the shell adds none. (A subnormal ε is kept out: see
    :func:`test_rmsprop_reciprocal_overflows_for_a_subnormal_denominator`.)"""
    cls = load_adapter("tests.test_adapters.factories:rmsprop_eps_outside")
    assert_conforms(
        cls, "RMSprop", max_examples=EXAMPLES, seed=0, dtypes=[torch.float64],
        problem_builder=float_lr(min_eps=1e-300), centered=False,
    )  # fmt: skip


def test_centered_rmsprop_cancels_in_float64() -> None:
    """Centered, optax forms ν - μ² from two rounded terms (transform.py, ``scale_by_stddev``);
    torch's ``addcmul`` keeps the product unrounded. With ε = 0 and ν ≈ μ² the difference
    is amplified by the square root and the division: 68 units of roundoff in float64, where
    the oracle is torch's own for-loop (no wider dtype exists), so the verdict calls it a
    mismatch. Kept as the measured limit of a float64 oracle."""
    cls = load_adapter("tests.test_adapters.factories:rmsprop_eps_outside")
    g = torch.tensor([1.5410], dtype=torch.float64)
    problem = one_param_problem([1.5410, 1.5410], {"lr": 0.1, "alpha": 0.09375, "eps": 0.0,
                                                   "centered": True}, param=1.5410)  # fmt: skip
    ours, _ = run(cls, problem)
    theirs, _ = run(torch.optim.RMSprop, problem)
    assert ours != theirs and abs(ours - theirs) < 1e-11 * abs(g.item())


def test_rmsprop_reciprocal_overflows_for_a_subnormal_denominator() -> None:
    """optax forms 1 / (sqrt(ν) + ε) and then multiplies by g (transform.py:142-143): with
    ν = 0 and ε = 5e-324 the reciprocal is inf and inf * 0 is NaN; torch divides g by the
    denominator and gets 0."""
    cls = load_adapter("tests.test_adapters.factories:rmsprop_eps_outside")
    problem = one_param_problem([0.0], {"lr": 0.1, "alpha": 0.0, "eps": 5e-324})
    ours, _ = run(cls, problem)
    theirs, _ = run(torch.optim.RMSprop, problem)
    assert math.isnan(ours) and theirs == 1.0


def test_amsgrad_takes_the_max_of_the_bias_corrected_nu() -> None:
    """optax's amsgrad: max(ν̂_max, ν/(1-β2^t)) (transform.py:372-378); torch: max of the
    raw ν, then the bias correction. β2 = 0.5, g = 1 then 0.1: optax keeps 1.0, torch 0.5."""
    hyper = {"lr": 0.1, "betas": (0.0, 0.5), "eps": 0.0}
    problem = one_param_problem([1.0, 0.1], hyper)
    cls = load_adapter("optax:amsgrad")
    ours, state = run(cls, problem)
    theirs, _ = run(torch.optim.Adam, problem, amsgrad=True)
    assert ours == pytest.approx(1 - 0.1 - 0.1 * 0.1 / 1.0, rel=1e-15)
    assert theirs == pytest.approx(1 - 0.1 - 0.1 * 0.1 / math.sqrt(0.5 / 0.75), rel=1e-15)
    assert state["optax.nu_max"] == 1.0 and "max_exp_avg_sq" not in state
    assert pins_for(cls, "Adam")["amsgrad"] is True


@pytest.mark.parametrize(
    ("target", "against", "key"),
    [
        ("optax:adam", torch.optim.Adam, "exp_avg_sq"),
        # rmsprop with torch's ε placement, so that only the overflow differs
        ("tests.test_adapters.factories:rmsprop_eps_outside", torch.optim.RMSprop, "optax.nu"),
    ],
)
def test_g_squared_overflows_before_the_decay_scales_it(
    target: str, against: type[torch.optim.Optimizer], key: str
) -> None:
    """optax forms g**2 before multiplying by (1 - β) (_tree_math.py:418-438): g = 1e155
    overflows to inf; torch's addcmul_ scales first and keeps 1e307. At g = 1e150 both are
    finite and agree (the check can pass)."""
    cls = load_adapter(target)
    hyper = {"lr": 1e-3, "eps": 1e-8}
    _, big = run(cls, one_param_problem([1e155], hyper))
    _, big_torch = run(against, one_param_problem([1e155], hyper))
    torch_key = key.removeprefix("optax.").replace("nu", "square_avg")
    assert math.isinf(big[key]) and math.isfinite(big_torch[torch_key])
    overflowed = run_lockstep(
        lambda g: cls(g), lambda g: against(g), one_param_problem([1e155], hyper), faithful
    )
    assert overflowed is not None
    fine = one_param_problem([1e150], hyper)
    assert run_lockstep(lambda g: cls(g), lambda g: against(g), fine, faithful) is None


def test_rprop_applies_its_step_one_step_late() -> None:
    """optax's rprop returns the previous step's signed step (transform.py:949-955): with
    g = 1 three times and lr = 0.1, torch moves 0.1, 0.12, 0.144; optax 0, 0.1, 0.12."""
    problem = one_param_problem([1.0, 1.0, 1.0], {"lr": 0.1})
    ours, _ = run(load_adapter("optax:rprop"), problem)
    theirs, _ = run(torch.optim.Rprop, problem)
    assert ours == pytest.approx(1 - 0.1 - 0.12, rel=1e-15)
    assert theirs == pytest.approx(1 - 0.1 - 0.12 - 0.144, rel=1e-15)


def test_state_keeps_torch_names_and_survives_state_dict() -> None:
    cls = load_adapter("optax:adam")
    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = cls([p], lr=0.1)
    p.grad = torch.full_like(p, 0.5)
    opt.step()
    assert set(opt.state[p]) == {"step", "exp_avg", "exp_avg_sq"}
    assert opt.state[p]["exp_avg"].dtype == torch.float64
    fresh = cls([p], lr=0.1)
    fresh.load_state_dict(opt.state_dict())
    assert torch.equal(fresh.state[p]["exp_avg_sq"], opt.state[p]["exp_avg_sq"])


def test_constructor_maps_and_pins() -> None:
    cls = load_adapter("optax:adam")
    assert issubclass(cls, OptaxOptimizer) and cls.COUNTERPART == "Adam"
    assert cls.PINNED == {
        "weight_decay": 0, "amsgrad": False, "maximize": False, "decoupled_weight_decay": False,
    }  # fmt: skip
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="cannot express amsgrad=True"):
        cls([p], lr=0.1, amsgrad=True)
    with pytest.raises(TypeError, match="no hyperparameter 'nesterov'"):
        cls([p], lr=0.1, nesterov=True)
    # optax's own defaults, in torch's names: adamw's weight decay is 1e-4 (alias.py:605)
    assert load_adapter("optax:adamw")([p]).defaults["weight_decay"] == 1e-4
