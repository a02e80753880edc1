"""Every check's verdict follows its input: perturb what a check compares (a wrong interval,
a sign flip, another β, a planted optimiser, another docstring) and the verdict changes.

``CASES[cid]`` is ``(base inputs, baseline verdict, [(perturbed inputs, verdict), …])``; the
base inputs only shorten the empirical checks (three seeds). Every registered claim has an
entry, so no verdict is a constant.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import sympy as sp
import torch

from optverify.analytic import differential, numbers, word2vec
from optverify.analytic.claims import CLAIMS, decide
from optverify.analytic.verdict import Context

torch.set_num_threads(1)

SEEDS3 = {"seeds": (0, 1, 2)}
gamma, eta, g = (
    sp.Symbol("gamma", positive=True),
    sp.Symbol("eta", positive=True),
    sp.Symbol("g", real=True),
)


def _scaled_lr(cls: type[torch.optim.Optimizer], factor: float = 1.5) -> Any:
    """A planted bug: the torch class with every group's lr scaled by ``factor``."""

    def make(groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return cls([{**gr, "lr": gr.get("lr", 1.0) * factor} for gr in groups])

    return make


def _reference_of(cid: str) -> dict[str, Any]:
    """The subject with its target replaced by its own reference (they must then agree)."""
    return {"subject": {"target": differential.SUBJECTS[cid].reference}}


class _L2IgnoringMaximize(torch.optim.SGD):
    """The earlier, wrong L2 reference: descends f + λ/2‖w‖² even when maximize=True."""

    def __init__(self, groups: list[dict[str, Any]]) -> None:
        moved = [{**gr, "l2": gr.get("weight_decay", 0.0), "weight_decay": 0.0} for gr in groups]
        super().__init__(moved)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        def with_penalty() -> Any:
            loss = closure()
            with torch.enable_grad():
                sign = [(-1.0 if gr.get("maximize") else 1.0) for gr in self.param_groups]
                terms = [s * gr["l2"] / 2 * p.pow(2).sum() * s  # the sign cancels: wrong
                         for s, gr in zip(sign, self.param_groups, strict=True)
                         for p in gr["params"]]  # fmt: skip
                torch.stack(terms).sum().backward()
            return loss

        return super().step(with_penalty)


def _finetune_same_lr(groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
    features, fc = groups
    return torch.optim.SGD(
        [{"params": features["params"]}, {"params": fc["params"]}],
        lr=features["lr"],
        weight_decay=features["weight_decay"],
    )


class _RMSpropNoteDefaults(torch.optim.RMSprop):
    def __init__(self, params: Any, lr: float = 1e-3, alpha: float = 0.9, **kw: Any) -> None:
        super().__init__(params, lr=lr, alpha=alpha, **kw)


class _RMSpropChecked(torch.optim.RMSprop):
    def __init__(self, params: Any, alpha: float = 0.99, **kw: Any) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        super().__init__(params, alpha=alpha, **kw)


def _runs_fine() -> list[str]:
    return ["```python", "import torch", "x = torch.zeros(2)", "print(x.sum().item())", "```"]


def _note003_with(old: str, new: str, notes: Path) -> list[str]:
    lines = (notes / CLAIMS["N003.optim.list"].note).read_text(encoding="utf-8").splitlines()
    return [ln.replace(old, new) for ln in lines]


def _wrong_print(cid: str) -> tuple[tuple[Any, ...], ...]:
    out = []
    done = False
    for row in numbers.TRAJECTORIES:
        if row[0] == cid and not done:
            row = (*row[:4], row[4].replace("x1 ", "x1 9"), row[5])
            done = True
        out.append(row)
    return tuple(out)


def cases(notes: Path) -> dict[str, tuple[dict[str, Any], str, list[tuple[dict[str, Any], str]]]]:
    eps_fails = [
        "N000.adagrad.rule", "N000.rmsprop.rule", "N000.adam.rule", "N001.rmsprop.rule",
        "N004.adagrad.rule", "N004.rmsprop.rule", "N004.adadelta.rule", "N004.adam.rule",
    ]  # fmt: skip
    out: dict[str, tuple[dict[str, Any], str, list[tuple[dict[str, Any], str]]]] = {
        cid: ({}, "fails", [(_reference_of(cid), "holds")]) for cid in eps_fails
    }
    half, quarter = sp.Rational(1, 2), sp.Rational(1, 4)
    out.update({
        # ---- D
        "N000.sgd.rule": ({}, "holds",
                          [({"subject": {"target": _scaled_lr(torch.optim.SGD)}}, "fails")]),
        "N000.mom.rule": ({}, "holds",
                          [({"subject": {"target": _scaled_lr(torch.optim.SGD)}}, "fails")]),
        "N000.adadelta.rule": ({}, "holds", [
            ({"subject": {"target": _scaled_lr(torch.optim.Adadelta)}}, "fails")]),
        "N003.torch.momentum": ({}, "holds", [
            ({"subject": {"reference": _scaled_lr(torch.optim.SGD)}}, "fails")]),
        "N003.sgd.l2": ({}, "holds", [
            ({"subject": {"reference": _L2IgnoringMaximize}}, "holds-if"),
            ({"subject": {"target": _scaled_lr(torch.optim.SGD)}}, "fails")]),
        "N004.finetune.groups": ({}, "holds",
                                 [({"subject": {"target": _finetune_same_lr}}, "fails")]),
        # ---- E (three seeds keep the test short)
        "N000.sgd.lr1": (SEEDS3, "holds", [({"lrs": (0.01, 0.01)}, "fails")]),
        "N000.sgd.batch": (SEEDS3, "holds", [({"batches": (64, 64)}, "fails")]),
        "N001.rmsprop.alpha": (SEEDS3, "holds", [
            ({"alphas": (0.9, 0.9)}, "fails"),
            ({"builtin": lambda p: torch.optim.RMSprop(p, lr=1e-2, alpha=0.9)}, "fails")]),
        "N002.opt.compare": (SEEDS3, "holds", [({"makers": {
            "SGD": lambda p: torch.optim.SGD(p, lr=0.01),
            "Adam": lambda p: torch.optim.Adam(p, lr=0.0),
            "RMSprop": lambda p: torch.optim.RMSprop(p, lr=0.01)}}, "fails")]),
        # ---- A
        "N000.code.runs": ({}, "fails", [({"lines": _runs_fine()}, "holds")]),
        "N002.code.runs": ({}, "fails", [({"lines": _runs_fine()}, "holds")]),
        "N003.optim.list": ({}, "holds", [
            ({"lines": _note003_with("optim.SGD", "optim.SGDX", notes)}, "fails")]),
        # ---- N
        "N003.lr.diverge": ({}, "holds", [({"printed": (("x1", "-15", 21, "= -14"),)}, "fails")]),
        "N003.ema.sum": ({}, "holds", [({"beta": 0.99}, "fails")]),
        "N002.autograd.mean": ({}, "holds", [({"x": [[1, 2], [3, 5]]}, "fails")]),
        "N004.w2v.bce": ({}, "holds", [({"hand": [0.9, 1.21]}, "fails")]),
        "N004.gd.traj": ({}, "holds", [({"trajectories": _wrong_print("N004.gd.traj")}, "fails")]),
        "N004.mom.traj": ({}, "holds",
                          [({"trajectories": _wrong_print("N004.mom.traj")}, "fails")]),
        "N004.adagrad.traj": ({}, "holds",
                              [({"trajectories": _wrong_print("N004.adagrad.traj")}, "fails")]),
        "N004.rmsprop.traj": ({}, "holds",
                              [({"trajectories": _wrong_print("N004.rmsprop.traj")}, "fails")]),
        # ---- S
        "N000.mom.partial": ({}, "holds", [({"claimed": [
            eta * g, (1 - gamma) * eta * g, (1 + gamma + gamma**2) * eta * g]}, "fails")]),
        "N000.mom.steady": ({}, "holds", [({"gamma_range": "up to 1"}, "holds-if")]),
        "N000.mom.tenfold": ({}, "holds", [({"factor": 9}, "fails")]),
        "N000.adagrad.decay": ({}, "holds", [({"accumulate": lambda s, gg: s - gg**2}, "fails")]),
        "N000.rmsprop.bounded": ({}, "holds", [({"alpha_max": sp.Rational(3, 2)}, "fails")]),
        "N000.adam.biasvanish": ({}, "holds-if", [({"premise": "0 ≤ β < 1"}, "holds")]),
        "N001.rmsprop.notmonotone": ({}, "holds", [({"alpha": 1}, "fails")]),
        "N001.rmsprop.defaults": ({}, "fails", [({"torch_class": _RMSpropNoteDefaults}, "holds")]),
        "N002.autograd.grad": ({}, "holds", [({"factor": quarter}, "fails")]),
        "N002.act.ranges": ({}, "holds-if", [
            ({"probe": 1.0}, "holds"),
            ({"probe": 1.0, "expected": {"relu": sp.Interval(0, sp.oo),
                                         "sigmoid": sp.Interval.open(0, half),
                                         "tanh": sp.Interval.open(-1, 1),
                                         "softplus": sp.Interval.open(0, sp.oo)}}, "fails")]),
        "N003.lr.onestep": ({}, "holds", [({"claimed_lr": quarter}, "fails")]),
        "N003.lr.range": ({}, "holds", [
            ({"interval": sp.Interval.open(0, half)}, "fails"),
            ({"curvature": 4}, "fails")]),
        "N003.ema.window": ({}, "holds", [({"window": 3}, "fails")]),
        "N003.mom.expand": ({}, "holds", [
            ({"claimed": lambda m, a, b, c, v: a + m * b + m * c + m**3 * v}, "fails")]),
        "N003.mom.oscillate": ({}, "holds", [({"momenta": (0.9, 0.95)}, "fails")]),
        "N003.adamax.bound": ({}, "holds-if", [
            ({"premise": "β₁ < β₂"}, "holds"),
            ({"bound": lambda b1, b2, t: sp.Integer(1)}, "fails")]),
        "N004.w2v.discard": ({}, "holds", [
            ({"code": lambda c, n: 1 - sp.sqrt(sp.Rational(1, 10**4) / c)}, "fails")]),
        "N004.w2v.sigmoid": ({}, "holds", [({"right": word2vec.sigmoid}, "fails")]),
        "N004.cond": ({}, "holds", [({"claimed": ((sp.Rational(1, 5), 4), 10)}, "fails")]),
        "N004.gd.maxlr": ({}, "holds", [({"interval": sp.Interval.open(0, 1)}, "fails")]),
        "N004.mom.maxlr": ({}, "holds", [({"beta": 0}, "fails")]),
        "N004.mom.versions": ({}, "holds-if", [
            ({"beta": sp.Integer(0)}, "holds"),
            ({"alpha_scale": 1}, "fails")]),
        "N004.ema.sum": ({}, "fails", [
            ({"claimed": 1 - sp.Symbol("beta", positive=True) ** (
                sp.Symbol("t", integer=True, nonnegative=True) + 1)}, "holds")]),
        "N004.ema.e": ({}, "holds", [({"example": (0.95, 10)}, "fails")]),
        "N004.mom.lr5": ({}, "holds", [({"ratio": 4}, "fails")]),
        "N004.adam.bias": ({}, "holds", [({"beta1": sp.Rational(4, 5)}, "fails")]),
        "N004.adadelta.nolr": ({}, "holds", [({"lr": 0.5}, "fails")]),
        # ---- T
        "T.adafactor.wd_default": ({}, "fails", [({"doc": "weight_decay (float, optional): "
                                                   "decay (default: 0.0)"}, "holds")]),
        "T.muon.momentum": ({}, "fails", [
            ({"documented": lambda m, b, gg: m * b + (1 - m) * gg}, "holds")]),
        "T.adagrad.group_init": ({}, "fails", [({"group_value": 0.0}, "holds")]),
        "T.rmsprop.centered": ({}, "fails", [({"steps": 60}, "holds")]),
        "T.state_dict.copy": ({}, "fails", [
            ({"load": lambda o, sd: o.load_state_dict(copy.deepcopy(sd))}, "holds")]),
        "T.sparseadam.eps": ({}, "fails", [({"grad": 1.0}, "holds")]),
        "T.rprop.lr": ({}, "fails", [({"cls": torch.optim.SGD}, "holds")]),
        "T.rmsprop.alpha_range": ({}, "fails", [({"cls": _RMSpropChecked}, "holds")]),
    })  # fmt: skip
    return out


_IDS = sorted(CLAIMS)


def test_every_claim_has_a_perturbation(notes_dir: Path) -> None:
    table = cases(notes_dir)
    assert sorted(table) == _IDS
    for cid, (_, base, changes) in table.items():
        assert changes and all(v != base for _, v in changes), cid


@pytest.mark.parametrize("cid", _IDS)
def test_verdict_follows_the_input(cid: str, notes_dir: Path) -> None:
    base_inputs, base, changes = cases(notes_dir)[cid]
    first = decide(CLAIMS[cid], Context(notes_dir=notes_dir, inputs=base_inputs))
    assert first.verdict == base, first.summary
    for inputs, expected in changes:
        out = decide(CLAIMS[cid], Context(notes_dir=notes_dir, inputs={**base_inputs, **inputs}))
        assert out.verdict == expected, f"{inputs}: {out.verdict}: {out.summary}"
        if out.verdict == "holds-if":
            assert out.condition and out.outside
