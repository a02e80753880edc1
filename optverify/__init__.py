"""optverify: machine-checked correctness reference and conformance kit for torch.optim.

The public API::

    import optverify

    optverify.assert_conforms(MyAdam, "Adam", max_examples=200)  # raises on a difference
    except optverify.NonConformance as failure: ...              # the minimal counterexample

Both are imported lazily, so ``import optverify`` stays light (no torch, no Hypothesis) until
one of them is used. Documented submodules:

* ``optverify.properties.conformance`` — :func:`assert_conforms` and its helpers;
* ``optverify.optimizers`` — from-scratch reimplementations of ``torch.optim``;
* ``optverify.analytic`` — the checked claims about the optimisers;
* ``optverify.check`` — ``optverify check``; ``optverify.cli`` — the command line;
* ``optverify.config`` — ``[tool.optverify]`` in a project's ``pyproject.toml``;
* ``optverify.ci_output`` — JUnit XML and GitHub Actions annotations;
* ``optverify.pytest_plugin`` — the ``conforms_to`` marker and the ``conformance`` fixture.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["NonConformance", "Summary", "__version__", "assert_conforms"]

if TYPE_CHECKING:
    from optverify.properties.conformance import NonConformance, Summary, assert_conforms

#: public name -> the module that defines it (imported on first access)
_LAZY = {
    "assert_conforms": "optverify.properties.conformance",
    "NonConformance": "optverify.properties.conformance",
    "Summary": "optverify.properties.conformance",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'optverify' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
