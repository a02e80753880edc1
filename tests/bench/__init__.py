"""Per-step benchmarks: ours against torch, as ratios (``nox -s bench``)."""
