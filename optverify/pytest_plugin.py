"""The pytest plugin (entry point ``pytest11``, loaded automatically once optverify is
installed): a library checks its optimisers in its own suite with one line.

The marker, on a test that returns the class::

    @pytest.mark.conforms_to("Adam", max_examples=200, eps=1e-8)
    def test_my_adam():
        return MyAdam

or the fixture, for a check among other code::

    def test_my_adam(conformance):
        summary = conformance(MyAdam, "Adam", max_examples=200)
        assert "betas" in summary.varied

Options (marker keywords, fixture keywords): ``max_examples``, ``seed``, ``dtypes`` (names or
torch dtypes), ``tolerance``, ``device``, ``validation``, ``shrink``, ``init`` (target-only
constructor arguments), ``pins`` (a dict); any other keyword pins a hyperparameter. They
override ``[tool.optverify]`` of the project's ``pyproject.toml`` (:mod:`optverify.config`),
which the ``--optverify-max-examples`` / ``--optverify-seed`` options override in turn.
Without a ``max_examples`` the active Hypothesis profile's applies; under a derandomized
profile the seed is 0 unless one is set. A failure shows the minimal counterexample and the
call that reproduces it, not the helper's source (``--fulltrace`` shows the traceback).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["conform", "conformance"]

#: marker/fixture keywords passed to ``assert_conforms`` as they are
_PASSTHROUGH = ("tolerance", "device", "validation", "shrink")
#: keywords read into :class:`optverify.config.Settings`
_SETTINGS = ("against", "max_examples", "seed", "dtypes", "pins", "init")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("optverify", "optimiser conformance (optverify)")
    group.addoption(
        "--optverify-max-examples", type=int, default=None, metavar="N",
        help="examples per conforms_to check, over the marker and [tool.optverify]",
    )  # fmt: skip
    group.addoption(
        "--optverify-seed", type=int, default=None, metavar="SEED",
        help="Hypothesis seed of every conforms_to check",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conforms_to(against, **options): the test returns an optimiser class, which must "
        "behave like torch.optim.<against> (optverify)",
    )


def _dtype_names(dtypes: Any) -> tuple[str, ...] | None:
    if dtypes is None:
        return None
    if isinstance(dtypes, str):
        dtypes = dtypes.split(",")
    return tuple(str(d).strip().removeprefix("torch.") for d in dtypes)


def target_key(cls: type) -> str:
    """How ``[tool.optverify.targets]`` names ``cls``: ``module:Qualname`` (or the bare class
    name as a key)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def conform(
    cls: Any,
    against: str | None = None,
    *,
    rootpath: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Check ``cls`` against ``torch.optim.<against>`` with the merged settings; the
    :class:`~optverify.properties.conformance.Summary`, or :class:`NonConformance`."""
    __tracebackhide__ = True
    import torch
    from hypothesis import settings as hypothesis_settings
    from hypothesis.reporting import with_reporter

    from optverify import config
    from optverify.properties.conformance import assert_conforms

    if not isinstance(cls, type):
        pytest.fail(
            f"optverify: expected an optimiser class, got {type(cls).__name__} "
            "(a test marked conforms_to must return the class)",
            pytrace=False,
        )
    passthrough = {k: options.pop(k) for k in _PASSTHROUGH if k in options}
    given = {k: options.pop(k) for k in _SETTINGS if k in options}
    given["pins"] = {**given.get("pins", {}), **options}  # the remaining keywords pin
    given["against"] = against
    given["dtypes"] = _dtype_names(given.get("dtypes"))
    merged = config.settings_for(target_key(cls), given, start=rootpath)
    for key, value in (overrides or {}).items():
        if value is not None:
            merged = dataclasses.replace(merged, **{key: value})
    if merged.against is None:
        pytest.fail(
            f'optverify: no torch optimiser for {cls.__name__}: give conforms_to("Adam") '
            f'or `against` in [tool.optverify.targets."{target_key(cls)}"]',
            pytrace=False,
        )
    seed = merged.seed
    if seed is None and hypothesis_settings().derandomize:
        seed = 0
    dtypes = [getattr(torch, n) for n in merged.dtypes] if merged.dtypes else None
    target = config.bind_init(cls, merged.init)
    with with_reporter(lambda _text: None):  # the NonConformance message says it all
        return assert_conforms(
            target, merged.against, max_examples=merged.max_examples, seed=seed,
            dtypes=dtypes, **passthrough, **dict(merged.pins),
        )  # fmt: skip


def _overrides(config: pytest.Config) -> dict[str, Any]:
    return {
        "max_examples": config.getoption("--optverify-max-examples"),
        "seed": config.getoption("--optverify-seed"),
    }


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a ``conforms_to`` test: call it for the class, then check the class."""
    marker = pyfuncitem.get_closest_marker("conforms_to")
    if marker is None:
        return None
    __tracebackhide__ = True
    names = pyfuncitem._fixtureinfo.argnames
    cls = pyfuncitem.obj(**{name: pyfuncitem.funcargs[name] for name in names})
    against = marker.args[0] if marker.args else marker.kwargs.get("against")
    options = {k: v for k, v in marker.kwargs.items() if k != "against"}
    conform(cls, against, rootpath=pyfuncitem.config.rootpath,
            overrides=_overrides(pyfuncitem.config), **options)  # fmt: skip
    return True


@pytest.fixture
def conformance(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``conformance(cls, against=None, **options)``: :func:`conform` with this project's
    ``[tool.optverify]`` and the command line's overrides."""
    root = request.config.rootpath
    overrides = _overrides(request.config)

    def check(cls: Any, against: str | None = None, **options: Any) -> Any:
        __tracebackhide__ = True
        return conform(cls, against, rootpath=root, overrides=overrides, **options)

    return check


def _is_nonconformance(error: BaseException) -> bool:
    module = sys.modules.get("optverify.properties.conformance")
    return module is not None and isinstance(error, module.NonConformance)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed conformance check reports its counterexample, not the helpers' source."""
    report = yield
    excinfo = call.excinfo
    if (
        excinfo is not None
        and report.failed
        and _is_nonconformance(excinfo.value)
        and not item.config.getoption("fulltrace")
    ):
        report.longrepr = f"optverify: {excinfo.value}"
    return report
