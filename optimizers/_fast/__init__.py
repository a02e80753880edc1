"""Fast paths of the readable optimisers (see :mod:`optimizers.fast`, the public entry)."""
