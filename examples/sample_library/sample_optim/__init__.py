"""sample_optim: one optimiser, gated on behaving like torch.optim.SGD."""

from sample_optim.sgd import HeavyBallSGD

__all__ = ["HeavyBallSGD"]
