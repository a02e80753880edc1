"""The loader and the names tables (most of it needs neither JAX nor Keras)."""

from __future__ import annotations

import sys

import pytest

from optverify.adapters import AdapterError, MissingExtra, is_adapter_target, load_adapter
from optverify.adapters.names import KERAS, OPTAX, pinned_for, torch_defaults


def test_every_alias_names_real_torch_hyperparameters() -> None:
    for table in (OPTAX, KERAS):
        for alias in table.values():
            pinned = pinned_for(alias)  # raises for a name torch does not have
            assert not set(pinned) & set(alias.mapping)
            assert set(pinned) | set(alias.mapping) == set(torch_defaults(alias.torch))


def test_pinned_values() -> None:
    assert pinned_for(OPTAX["amsgrad"])["amsgrad"] is True
    assert pinned_for(OPTAX["sgd"]) == {"dampening": 0, "weight_decay": 0, "maximize": False}
    assert pinned_for(KERAS["Adam"]) == {"maximize": False, "decoupled_weight_decay": True}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("adam", "expected optax:NAME, keras:NAME or module:function"),
        ("optax:lion", "no torch counterpart known .* known: optax:adadelta"),
        ("keras:Lion", "no torch counterpart known .* known: keras:Adadelta"),
        ("no/such:thing", "is not a module name"),
        ("no_such_module_xyz:f", "cannot import no_such_module_xyz"),
        ("tests.test_adapters.factories:NotAFunction", "not a function returning"),
    ],
)
def test_bad_targets_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(AdapterError, match=message) as raised:
        load_adapter(text)
    assert "\n" not in str(raised.value)


def test_missing_jax_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optax", None)
    load_adapter.cache_clear()
    with pytest.raises(MissingExtra) as raised:
        load_adapter("optax:adam")
    load_adapter.cache_clear()
    assert raised.value.extra == "jax"
    assert str(raised.value).startswith("optax:adam needs the jax extra")
    assert str(raised.value).endswith("pip install 'optverify[jax]'")


def test_missing_keras_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "keras", None)
    load_adapter.cache_clear()
    with pytest.raises(MissingExtra, match=r"keras:Adam needs the keras extra") as raised:
        load_adapter("keras:Adam")
    load_adapter.cache_clear()
    assert str(raised.value).endswith("pip install 'optverify[keras]'")


def test_target_forms() -> None:
    assert is_adapter_target("optax:adam") and is_adapter_target("keras:SGD")
    assert not is_adapter_target("examples/my_sgd.py:MySGD")
