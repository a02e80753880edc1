"""Keras 3 optimizers (torch backend) against torch.optim.

Sources cited: Keras 3.15.1, the torch backend's optimisers that Keras runs here
(``keras/src/backend/torch/optimizers/``) and the base optimiser
(``keras/src/backend/torch/optimizers/torch_optimizer.py``).
"""

from __future__ import annotations

import math

import pytest
import torch

from optverify.adapters import AdapterError, MissingExtra, load_adapter, pins_for
from optverify.adapters.keras_shell import KerasOptimizer, import_keras
from optverify.properties.conformance import NonConformance, assert_conforms
from optverify.properties.harness import run_lockstep
from optverify.properties.targets import factory
from optverify.properties.tolerances import faithful
from tests.test_adapters._support import float_lr, one_param_problem, run

try:  # Keras with the torch backend, as the shell imports it
    import_keras("keras:SGD")
except MissingExtra as missing:
    pytest.skip(str(missing), allow_module_level=True)


EXAMPLES = 12


def test_sgd_without_momentum_or_decay_conforms() -> None:
    """The acceptance case; nesterov is pinned too (see the validation test below)."""
    cls = load_adapter("keras:SGD")
    sets = {"momentum": 0.0, "weight_decay": 0.0, "nesterov": False}
    assert_conforms(
        cls, "SGD", max_examples=EXAMPLES, seed=0, dtypes=[torch.float64, torch.float32],
        **pins_for(cls, "SGD", sets),
    )  # fmt: skip


def test_sgd_accepts_nesterov_without_momentum() -> None:
    """Keras runs nesterov=True with momentum 0 as plain SGD (torch_sgd.py:16, 35-36); torch
    rejects it: a validation difference, found by the lock-step harness at the constructor."""
    problem = one_param_problem([0.5], {"lr": 0.1, "momentum": 0.0, "nesterov": True})
    found = run_lockstep(
        factory(load_adapter("keras:SGD")), factory(torch.optim.SGD), problem, faithful
    )
    assert found is not None and found.what == "constructor"
    assert "torch raised ValueError" in found.detail


def test_sgd_momentum_velocity_holds_the_learning_rate() -> None:
    """Keras's velocity is m = μ m - lr g (torch_sgd.py:26-27); torch's buffer leaves lr out
    (b = μ b + g, p -= lr b). Equal for a constant lr, different once lr changes."""
    cls = load_adapter("keras:SGD")
    sets = {"momentum": 0.9, "weight_decay": 0.0, "nesterov": False}
    p = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    q = p.detach().clone().requires_grad_(True)
    ours, theirs = cls([p], lr=0.1, **sets), torch.optim.SGD([q], lr=0.1, **sets)
    for k, opt in enumerate((ours, theirs)):
        for lr in (0.1, 0.01):
            opt.param_groups[0]["lr"] = lr
            (p if k == 0 else q).grad = torch.tensor(1.0, dtype=torch.float64)
            opt.step()
    assert p.item() == pytest.approx(1 - 0.1 - (0.9 * 0.1 + 0.01), rel=1e-15)
    assert q.item() == pytest.approx(1 - 0.1 - 0.01 * (0.9 + 1), rel=1e-15)


def test_adam_eps_hat() -> None:
    """Keras folds both bias corrections into the step (torch_adam.py:24) and adds ε to the
    raw sqrt(v) (torch_adam.py:55): ε-hat = ε sqrt(1 - β2^t) in torch's terms."""
    lr, b1, b2, eps, g = 0.01, 0.9, 0.999, 1e-8, 1e-4
    problem = one_param_problem([g], {"lr": lr, "betas": (b1, b2), "eps": eps})
    cls = load_adapter("keras:Adam")
    ours, state = run(cls, problem)
    theirs, _ = run(torch.optim.Adam, problem)
    m, v = (1 - b1) * g, (1 - b2) * g * g
    alpha = lr * math.sqrt(1 - b2) / (1 - b1)
    assert ours == pytest.approx(1 - alpha * m / (math.sqrt(v) + eps), rel=1e-15)
    assert theirs == pytest.approx(1 - lr * (m / (1 - b1)) / (math.sqrt(v / (1 - b2)) + eps))
    assert abs(ours - theirs) > 1e-6
    assert state["exp_avg"] == pytest.approx(m, rel=1e-15) and state["step"] == 1


def test_adam_with_eps_zero_conforms() -> None:
    """Without ε the two are the same algorithm: the shell adds no error (amsgrad, betas, lr
    schedules and decoupled weight decay varied; Keras's weight decay is decoupled,
    torch_optimizer.py:38-45, so decoupled_weight_decay=True is pinned). float64 only: in
    float32 the default coverage reaches the overflow band, where Keras's g² before (1 - β2)
    is a real difference (:func:`test_adam_g_squared_overflows`)."""
    cls = load_adapter("keras:Adam")
    assert cls.PINNED["decoupled_weight_decay"] is True
    assert_conforms(
        cls, "Adam", max_examples=EXAMPLES, seed=3, dtypes=[torch.float64],
        problem_builder=float_lr(), **pins_for(cls, "Adam", {"eps": 0.0}),
    )  # fmt: skip


def test_adam_default_eps_fails() -> None:
    """The same check with torch's ε finds the ε-hat difference (the check can fail)."""
    cls = load_adapter("keras:Adam")
    with pytest.raises(NonConformance):
        assert_conforms(
            cls, "Adam", max_examples=EXAMPLES, seed=3, dtypes=[torch.float64], shrink=False,
            **pins_for(cls, "Adam", {"eps": 1e-8}),
        )  # fmt: skip


def test_adam_g_squared_overflows() -> None:
    """Keras squares g before scaling by (1 - β2) (torch_adam.py:39-41): g = 1e155 gives
    v = inf; torch's addcmul_ keeps 1e307. At 1e150 (ε = 0) the two agree."""
    cls = load_adapter("keras:Adam")
    hyper = {"lr": 1e-3, "eps": 0.0}
    _, big = run(cls, one_param_problem([1e155], hyper))
    _, big_torch = run(torch.optim.Adam, one_param_problem([1e155], hyper))
    assert math.isinf(big["exp_avg_sq"]) and math.isfinite(big_torch["exp_avg_sq"])
    fine = one_param_problem([1e150], hyper)
    assert run_lockstep(lambda g: cls(g), lambda g: torch.optim.Adam(g), fine, faithful) is None


def test_float64_learning_rate_variable() -> None:
    """floatx follows the parameter: lr = 0.1 is not rounded to float32."""
    cls = load_adapter("keras:SGD")
    p = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    opt = cls([p], lr=0.1, momentum=0.0, weight_decay=0.0)
    p.grad = torch.tensor(1.0, dtype=torch.float64)
    opt.step()
    assert p.item() == 1.0 - 0.1


def test_shell_and_pins() -> None:
    cls = load_adapter("keras:Adam")
    assert issubclass(cls, KerasOptimizer) and cls.COUNTERPART == "Adam"
    # Keras's defaults, in torch's names: ε = 1e-7 (keras/src/optimizers/adam.py:48)
    assert cls([torch.zeros(1, requires_grad=True)]).defaults["eps"] == 1e-7
    with pytest.raises(AdapterError, match="pinned to True"):
        pins_for(cls, "Adam", {"decoupled_weight_decay": False})


def test_integer_hyperparameters_reach_keras_as_floats() -> None:
    """torch's default momentum=0 is an int; Keras rejects ints (keras/src/optimizers/sgd.py:
    74-75), so the shell passes 0.0 (the same value to torch)."""
    cls = load_adapter("keras:SGD")
    p = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    opt = cls([p], lr=0.5, momentum=0, weight_decay=0)
    p.grad = torch.tensor(1.0, dtype=torch.float64)
    opt.step()
    assert p.item() == 0.5
