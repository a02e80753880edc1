"""The library's gate: HeavyBallSGD behaves like torch.optim.SGD (settings in pyproject.toml)."""

import pytest
from sample_optim import HeavyBallSGD


@pytest.mark.conforms_to("SGD")
def test_heavy_ball_sgd_conforms_to_torch():
    return HeavyBallSGD


def test_heavy_ball_sgd_varies_its_hyperparameters(conformance):
    summary = conformance(HeavyBallSGD, "SGD", max_examples=10)
    assert {"lr", "momentum", "weight_decay"} <= set(summary.varied)
