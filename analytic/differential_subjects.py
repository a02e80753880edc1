r"""The subjects of the D claims: what each compares with what, and at which settings.

One :class:`Subject` per D claim (:data:`SUBJECTS`): the notes' rule (a class of
:mod:`optimizers.notes`) or torch's, the ``torch.optim`` class it is compared with, the
hyperparameters as the notes call them, the one-at-a-time sweep over their valid range, and
for an :math:`\epsilon` difference the torch built with the notes' :math:`\epsilon` value.
:mod:`analytic.differential_sweep` builds and measures the problems;
:mod:`analytic.differential` decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim import Optimizer

from optverify.optimizers import notes
from optverify.properties.harness import OptimizerFactory

__all__ = ["SUBJECTS", "Override", "Subject"]


Override = Mapping[str, Any]


@dataclass(frozen=True)
class Subject:
    """One D claim: what is compared with what, at which hyperparameters, over which sweep.

    ``target`` and ``reference`` build optimisers from torch-style param groups; ``base`` are
    the hyperparameters as the notes call them (shared by both constructors); ``sweep`` lists
    one-at-a-time overrides over the valid range; ``lr_change`` says whether the learning-rate
    axis applies (the rule has a learning rate); ``eps`` describes an :math:`\\epsilon`
    difference (a figure is drawn) and ``aligned`` builds torch with the notes' :math:`\\epsilon`
    value, to tell a difference of value from one of placement.
    """

    claim: str
    note: str
    lines: str
    target_name: str
    reference_name: str
    target: OptimizerFactory
    reference: OptimizerFactory
    base: Mapping[str, Any]
    sweep: tuple[Override, ...] = ()
    lr_change: bool = True
    eps: str = ""
    aligned: OptimizerFactory | None = None
    aligned_name: str = ""
    kind: str = "stream"  # stream | l2 | groups
    remarks: tuple[str, ...] = ()
    notes_class: type[Optimizer] | None = None
    torch_kwargs: Mapping[str, Any] = field(default_factory=dict)


def _torch(cls: type[Optimizer], **fixed: Any) -> OptimizerFactory:
    def factory(groups: list[dict[str, Any]]) -> Optimizer:
        return cls(groups, **fixed)

    return factory


def _ours(cls: Callable[[list[dict[str, Any]]], Optimizer]) -> OptimizerFactory:
    def factory(groups: list[dict[str, Any]]) -> Optimizer:
        return cls(groups)

    return factory


class _SGDOnL2Loss(torch.optim.SGD):
    r"""``torch.optim.SGD`` without weight decay, on the L2-regularised objective.

    Each group's ``l2`` is :math:`\lambda`; the penalty's gradient is added by autograd after
    the closure has back-propagated :math:`f`. Minimising, the objective is
    :math:`f + \frac{\lambda}{2}\|w\|^2`; with ``maximize=True`` the optimiser ascends, and
    the L2-regularised objective to *maximise* is :math:`f - \frac{\lambda}{2}\|w\|^2`
    (L2 regularisation of the minimised :math:`-f`).
    """

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        assert closure is not None, "the L2 reference needs a closure"

        def with_penalty() -> Any:
            loss = closure()
            with torch.enable_grad():
                terms = [
                    (-1.0 if group.get("maximize") else 1.0) * group["l2"] / 2 * p.pow(2).sum()
                    for group in self.param_groups
                    for p in group["params"]
                ]
                torch.stack(terms).sum().backward()
            return loss

        return super().step(with_penalty)


def _sgd_l2_reference(groups: list[dict[str, Any]]) -> Optimizer:
    moved = [{**g, "l2": g.get("weight_decay", 0.0), "weight_decay": 0.0} for g in groups]
    return _SGDOnL2Loss(moved)


class _SeparateSGDs(Optimizer):
    """One ``torch.optim.SGD`` per param group, stepped one after the other."""

    def __init__(self, groups: list[dict[str, Any]]) -> None:
        super().__init__(groups, {})
        self._inner = [
            torch.optim.SGD(list(g["params"]), **{k: v for k, v in g.items() if k != "params"})
            for g in self.param_groups
        ]

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        for outer, inner in zip(self.param_groups, self._inner, strict=True):
            inner.param_groups[0].update({k: v for k, v in outer.items() if k != "params"})
            inner.step()
        return None


def _finetune_target(groups: list[dict[str, Any]]) -> Optimizer:
    """The notes' construction: a ``filter`` of the feature parameters with the default lr,
    and the ``fc`` group with its own ``lr`` (``004`` lines 1440-1446)."""
    features, fc = groups
    feature_ids = {id(p) for p in features["params"]}
    feature_params = filter(lambda p: id(p) in feature_ids, features["params"])
    extra = {k: v for k, v in features.items() if k not in ("params", "lr", "weight_decay")}
    return torch.optim.SGD(
        [{"params": feature_params}, {"params": fc["params"], "lr": fc["lr"]}],
        lr=features["lr"],
        weight_decay=features["weight_decay"],
        **extra,
    )


def _eps_subject(
    claim: str,
    note: str,
    lines: str,
    notes_cls: type[Optimizer],
    torch_cls: type[Optimizer],
    base: Mapping[str, Any],
    sweep: tuple[Override, ...],
    eps: str,
    notes_eps: float,
    torch_call: str,
    torch_kwargs: Mapping[str, Any] | None = None,
    lr_change: bool = True,
) -> Subject:
    return Subject(
        claim=claim,
        note=note,
        lines=lines,
        target_name=f"optverify.optimizers.notes.{notes_cls.__name__}",
        reference_name=torch_call,
        target=_ours(notes_cls),
        reference=_torch(torch_cls, **(torch_kwargs or {})),
        base=base,
        sweep=sweep,
        lr_change=lr_change,
        eps=eps,
        aligned=_torch(torch_cls, **{**(torch_kwargs or {}), "eps": notes_eps}),
        aligned_name=f"{torch_call} with eps={notes_eps:g}",
        notes_class=notes_cls,
        torch_kwargs=dict(torch_kwargs or {}),
    )


N000 = "000_4553c4c6d47e08e5.txt"
N001 = "001_5d5832c955028860.txt"
N003 = "003_0f0b2f05897dc972.txt"
N004 = "004_2b399d6be3e5d837.txt"

_LR_SWEEP: tuple[Override, ...] = ({"lr": 0.0}, {"lr": 1e-4}, {"lr": 0.1}, {"lr": 1.0})
_RMSPROP_SWEEP: tuple[Override, ...] = (
    *_LR_SWEEP,
    {"alpha": 0.0},
    {"alpha": 0.5},
    {"alpha": 0.999},
)
_ADAM_SWEEP: tuple[Override, ...] = (
    *_LR_SWEEP,
    {"betas": (0.0, 0.999)},
    {"betas": (0.9, 0.0)},
    {"betas": (0.99, 0.9999)},
)
_RHO_SWEEP: tuple[Override, ...] = ({"rho": 0.0}, {"rho": 0.5}, {"rho": 0.99}, {"rho": 1.0})

SUBJECTS: dict[str, Subject] = {
    s.claim: s
    for s in (
        Subject(
            claim="N000.sgd.rule",
            note=N000,
            lines="28-40",
            target_name="optverify.optimizers.notes.Note000SGD",
            reference_name="torch.optim.SGD(params, lr=1e-2)",
            target=_ours(notes.Note000SGD),
            reference=_torch(torch.optim.SGD),
            base={"lr": 1e-2},
            sweep=_LR_SWEEP,
            notes_class=notes.Note000SGD,
        ),
        Subject(
            claim="N000.mom.rule",
            note=N000,
            lines="230-266, 328-337",
            target_name="optverify.optimizers.notes.Note000Momentum",
            reference_name="torch.optim.SGD(lr=1e-2, momentum=0.9)",
            target=_ours(notes.Note000Momentum),
            reference=_torch(torch.optim.SGD),
            base={"lr": 1e-2, "momentum": 0.9},
            sweep=(
                *_LR_SWEEP,
                {"momentum": 0.0},
                {"momentum": 0.5},
                {"momentum": 0.99},
            ),
            notes_class=notes.Note000Momentum,
        ),
        _eps_subject(
            "N000.adagrad.rule",
            N000,
            "380-398, 470-478",
            notes.Note000Adagrad,
            torch.optim.Adagrad,
            {"lr": 1e-2},
            _LR_SWEEP,
            "the notes add ε = 1e-10 inside the root, √(s + ε); torch adds its ε = 1e-10 "
            "outside, √s + ε",
            1e-10,
            "torch.optim.Adagrad(lr=1e-2)",
        ),
        _eps_subject(
            "N000.rmsprop.rule",
            N000,
            "509-530, 600-606",
            notes.Note000RMSprop,
            torch.optim.RMSprop,
            {"lr": 1e-3, "alpha": 0.9},
            _RMSPROP_SWEEP,
            "the notes add ε = 1e-10 inside the root, √(s + ε); torch adds ε = 1e-8 outside, "
            "√s + ε",
            1e-10,
            "torch.optim.RMSprop(lr=1e-3, alpha=0.9)",
        ),
        _eps_subject(
            "N001.rmsprop.rule",
            N001,
            "16-28, 65-73, 207-210",
            notes.Note001RMSprop,
            torch.optim.RMSprop,
            {"lr": 1e-3, "alpha": 0.9},
            _RMSPROP_SWEEP,
            "the note adds ε = 1e-10 inside the root, √(s + ε); torch adds ε = 1e-8 outside, "
            "√s + ε",
            1e-10,
            "torch.optim.RMSprop(lr=1e-3, alpha=0.9)",
        ),
        _eps_subject(
            "N000.adam.rule",
            N000,
            "641-677, 757-765",
            notes.Note000Adam,
            torch.optim.Adam,
            {"lr": 1e-3, "betas": (0.9, 0.999)},
            _ADAM_SWEEP,
            "the notes add ε = 1e-8 inside the root after the bias correction, √(ŝ + ε); "
            "torch adds ε = 1e-8 outside, √ŝ + ε",
            1e-8,
            "torch.optim.Adam(lr=1e-3)",
        ),
        Subject(
            claim="N000.adadelta.rule",
            note=N000,
            lines="794-827, 902-910",
            target_name="optverify.optimizers.notes.Note000Adadelta",
            reference_name="torch.optim.Adadelta(rho=0.9)",
            target=_ours(notes.Note000Adadelta),
            reference=_torch(torch.optim.Adadelta),
            base={"rho": 0.9},
            sweep=_RHO_SWEEP,
            lr_change=False,
            remarks=(
                "The notes' rule has no learning rate; torch's `lr` multiplies the step and "
                "is left at its default 1.0, as the notes call it (with another `lr` torch "
                "scales every update by it).",
            ),
            notes_class=notes.Note000Adadelta,
        ),
        Subject(
            claim="N003.torch.momentum",
            note=N003,
            lines="282-296",
            target_name="torch.optim.SGD(lr, momentum=m)",
            reference_name="optverify.optimizers.notes.Note003TorchMomentum",
            target=_torch(torch.optim.SGD),
            reference=_ours(notes.Note003TorchMomentum),
            base={"lr": 1e-2, "momentum": 0.9},
            sweep=(
                *_LR_SWEEP,
                {"momentum": 0.0},
                {"momentum": 0.5},
                {"momentum": 0.63},
                {"momentum": 0.99},
            ),
            notes_class=notes.Note003TorchMomentum,
        ),
        Subject(
            claim="N003.sgd.l2",
            note=N003,
            lines="384-399",
            target_name="torch.optim.SGD(lr, weight_decay=λ) on f",
            reference_name=(
                "torch.optim.SGD(lr) on f + λ/2‖w‖² (autograd; ascending f − λ/2‖w‖² when "
                "maximize=True)"
            ),
            target=_torch(torch.optim.SGD),
            reference=_sgd_l2_reference,
            base={"lr": 1e-2, "weight_decay": 1e-3},
            sweep=(
                {"weight_decay": 0.0},
                {"weight_decay": 0.1},
                {"weight_decay": 1.0},
                {"lr": 0.1},
                {"momentum": 0.9},
                {"momentum": 0.9, "dampening": 0.5},
                {"momentum": 0.9, "nesterov": True},
                {"maximize": True},
            ),
            kind="l2",
            remarks=(
                "f is a separable quadratic m·Σ(a⊙w²/2 + b⊙w) with a > 0 (a closure "
                "problem: the penalty's gradient depends on the current w).",
                "With maximize=True torch negates the gradient *before* adding λw, so it "
                "maximises f − λ/2‖w‖² (the decay still shrinks w): L2 regularisation of the "
                "objective it ascends; the reference is built the same way.",
            ),
        ),
        _eps_subject(
            "N004.adagrad.rule",
            N004,
            "915-921, 937-943",
            notes.Note004Adagrad,
            torch.optim.Adagrad,
            {"lr": 0.1},
            _LR_SWEEP,
            "the d2l code adds ε = 1e-6 inside the root, √(s + ε); torch adds ε = 1e-10 "
            "outside, √s + ε",
            1e-6,
            "torch.optim.Adagrad(lr=0.1)",
        ),
        _eps_subject(
            "N004.rmsprop.rule",
            N004,
            "1028-1034, 1051-1056",
            notes.Note004RMSprop,
            torch.optim.RMSprop,
            {"lr": 1e-2, "alpha": 0.9},
            _RMSPROP_SWEEP,
            "the d2l code adds ε = 1e-6 inside the root, √(s + ε); torch adds ε = 1e-8 "
            "outside, √s + ε",
            1e-6,
            "torch.optim.RMSprop(lr=0.01, alpha=0.9)",
        ),
        _eps_subject(
            "N004.adadelta.rule",
            N004,
            "1119-1127, 1141-1146",
            notes.Note004Adadelta,
            torch.optim.Adadelta,
            {"rho": 0.9},
            _RHO_SWEEP,
            "the d2l code uses ε = 1e-5 under both roots, torch ε = 1e-6 (same placement)",
            1e-5,
            "torch.optim.Adadelta(rho=0.9)",
            lr_change=False,
        ),
        _eps_subject(
            "N004.adam.rule",
            N004,
            "1234-1245, 1260-1265",
            notes.Note004Adam,
            torch.optim.Adam,
            {"lr": 1e-2, "betas": (0.9, 0.999)},
            _ADAM_SWEEP,
            "the d2l code uses ε = 1e-6 outside the root (as torch places it), torch ε = 1e-8",
            1e-6,
            "torch.optim.Adam(lr=0.01)",
        ),
        Subject(
            claim="N004.finetune.groups",
            note=N004,
            lines="1437-1446",
            target_name="torch.optim.SGD([{features}, {fc, lr: 10·lr}], lr, weight_decay)",
            reference_name="two separate torch.optim.SGD (lr and 10·lr, same weight_decay)",
            target=_finetune_target,
            reference=lambda groups: _SeparateSGDs(groups),
            base={"lr": 1e-2, "weight_decay": 1e-3},
            sweep=(
                {"lr": 0.1},
                {"weight_decay": 0.0},
                {"weight_decay": 0.1},
                {"momentum": 0.9},
            ),
            kind="groups",
        ),
    )
}
