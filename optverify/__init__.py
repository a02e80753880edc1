"""optverify: machine-checked correctness reference and conformance kit for torch.optim."""

__version__ = "0.1.0"
