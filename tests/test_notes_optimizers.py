"""The notes' optimisers behave as the notes write them: first steps computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from optverify.optimizers import notes


def _step(opt_cls: type[torch.optim.Optimizer], grads: list[float], **kw: object) -> float:
    p = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    opt = opt_cls([p], **kw)
    for g in grads:
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
    return float(p.detach())


def test_sgd_first_step() -> None:
    assert _step(notes.Note000SGD, [0.5], lr=0.1) == pytest.approx(1 - 0.05, abs=1e-15)


def test_momentum_lr_inside_velocity() -> None:
    # v1 = eta g = 0.01; v2 = 0.9 * 0.01 + 0.01 = 0.019 -> theta = 1 - 0.01 - 0.019
    assert _step(notes.Note000Momentum, [1.0, 1.0]) == pytest.approx(1 - 0.029, abs=1e-15)
    assert _step(notes.Note004Momentum, [1.0]) == pytest.approx(1 - 0.004, abs=1e-15)


def test_note003_torch_momentum() -> None:
    # v1 = g = 1, v2 = 0.9 + 1 = 1.9; w = 1 - 0.01 * (1 + 1.9)
    assert _step(notes.Note003TorchMomentum, [1.0, 1.0]) == pytest.approx(1 - 0.029, abs=1e-15)


def test_adagrad_eps_inside_root() -> None:
    g = 1e-4
    expected = 1 - 0.01 / math.sqrt(g * g + 1e-10) * g
    assert _step(notes.Note000Adagrad, [g]) == pytest.approx(expected, abs=1e-15)
    expected4 = 1 - 0.1 / math.sqrt(g * g + 1e-6) * g
    assert _step(notes.Note004Adagrad, [g]) == pytest.approx(expected4, abs=1e-15)


def test_rmsprop_eps_inside_root() -> None:
    g = 0.01
    s = 0.1 * g * g
    assert _step(notes.Note000RMSprop, [g]) == pytest.approx(
        1 - 1e-3 / math.sqrt(s + 1e-10) * g, abs=1e-15
    )
    assert _step(notes.Note001RMSprop, [g]) == _step(notes.Note000RMSprop, [g])
    assert _step(notes.Note004RMSprop, [g]) == pytest.approx(
        1 - 1e-2 / math.sqrt(s + 1e-6) * g, abs=1e-15
    )


def test_adam_first_step_t_from_one() -> None:
    g = 1e-3
    # t = 1: v_hat = g, s_hat = g^2
    assert _step(notes.Note000Adam, [g]) == pytest.approx(
        1 - 1e-3 * g / math.sqrt(g * g + 1e-8), abs=1e-15
    )
    assert _step(notes.Note004Adam, [g]) == pytest.approx(1 - 1e-2 * g / (abs(g) + 1e-6), abs=1e-15)


def test_adam_second_step_bias_correction() -> None:
    g1, g2 = 1.0, 2.0
    v = 0.1 * 0.9 * g1 + 0.1 * g2
    s = 0.001 * 0.999 * g1**2 + 0.001 * g2**2
    v_hat, s_hat = v / (1 - 0.9**2), s / (1 - 0.999**2)
    expected = 1 - 1e-3 * g1 / math.sqrt(1 + 1e-8) - 1e-3 * v_hat / math.sqrt(s_hat + 1e-8)
    assert _step(notes.Note000Adam, [g1, g2]) == pytest.approx(expected, abs=1e-14)


def test_adadelta_first_step() -> None:
    g = 1.0
    s = 0.1 * g * g
    assert _step(notes.Note000Adadelta, [g]) == pytest.approx(
        1 - math.sqrt(1e-6) / math.sqrt(s + 1e-6) * g, abs=1e-15
    )
    assert _step(notes.Note004Adadelta, [g]) == pytest.approx(
        1 - math.sqrt(1e-5 / (s + 1e-5)) * g, abs=1e-15
    )


def test_state_and_validation() -> None:
    p = torch.zeros(2, requires_grad=True)
    opt = notes.Note000Adam([p])
    p.grad = torch.ones(2)
    opt.step()
    assert opt.state[p]["t"] == 1
    assert set(opt.state[p]) == {"t", "exp_avg", "exp_avg_sq"}
    with pytest.raises(ValueError):
        notes.Note000Momentum([p], lr=-1.0)
    with pytest.raises(ValueError):
        notes.Note000Adam([p], betas=(1.0, 0.9))


def test_state_dict_round_trip() -> None:
    p = torch.ones(3, requires_grad=True)
    opt = notes.Note000Momentum([p])
    p.grad = torch.ones(3)
    opt.step()
    q = p.detach().clone().requires_grad_(True)
    other = notes.Note000Momentum([q])
    other.load_state_dict(opt.state_dict())
    p.grad = q.grad = torch.ones(3)
    opt.step()
    other.step()
    assert torch.equal(p, q)


def test_every_class_is_listed() -> None:
    assert len(notes.NOTES_CLASSES) == 13
