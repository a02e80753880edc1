"""The :class:`Spec` type: everything the properties need to know about one optimiser.

Capabilities live here, never as name lists inside tests: what torch's class takes (dtypes,
complex and sparse gradients, modes and the devices they run on), what it refuses (dense
gradients, parameters that are not matrices, a second param group) and where torch itself
breaks an invariant. The problem strategies read them (:meth:`Spec.problem_strategy`,
:meth:`Spec.fit`); the table of the fifteen optimisers is :mod:`optverify.properties.specs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from hypothesis import strategies as st
from torch.optim import Optimizer

from optverify.optimizers._shell import FUSED_DEVICES
from optverify.properties import strategies as s
from optverify.properties.harness import Problem

__all__ = ["MODES", "HyperStrategy", "ProblemBuilder", "Spec", "one_group", "torch_class"]

#: torch's implementations of one optimiser, as constructor keyword arguments
MODES: dict[str, dict[str, Any]] = {
    "forloop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
    # CUDA only: the step counter kept on the device (graph-capturable), for-loop arithmetic
    "capturable": {"capturable": True, "foreach": False},
}

HyperStrategy = Callable[[], st.SearchStrategy[dict[str, Any]]]
#: ``builder(hyper, **options)``: a strategy of whole problems, taking the keyword options of
#: :func:`properties.strategies.problems` (those that do not apply it may ignore; an unknown
#: name raises ``TypeError``)
ProblemBuilder = Callable[..., st.SearchStrategy[Problem]]


@dataclass(frozen=True)
class Spec:
    """Everything the properties need to know about one optimiser."""

    name: str
    ours: type[Optimizer]
    hyper: HyperStrategy
    invalid: Mapping[str, st.SearchStrategy[Any]]
    flags: tuple[str, ...]
    modes: tuple[str, ...] = ("forloop", "foreach")
    supports_complex: bool = True
    supports_sparse: bool = False
    needs_closure: bool = False
    schedulable: tuple[str, ...] = ("lr",)
    param_shapes: s.ShapeStrategy | None = None
    #: hyperparameters torch reads from the constructor, not from each param group
    #: (torch 2.13 Adagrad's initial_accumulator_value, adagrad.py:79-98 and 172-182)
    constructor_only: tuple[str, ...] = ()
    #: False where torch's ``load_state_dict`` casts float32 scalar state (``mu_product``,
    #: ``eta``, ``mu``) to a float64 parameter's dtype, so a reloaded run differs from an
    #: uninterrupted one (torch 2.13 optimizer.py:774-803)
    reload_exact_in_float64: bool = True
    #: False where torch computes a different number from a 0-d float64 tensor lr than from
    #: the same float: Hypothesis finds 1-ulp differences in torch's own ASGD and Adafactor,
    #: whose tensor lr enters tensor arithmetic where a float lr stays a Python double
    tensor_lr_exact: bool = True
    dtypes: tuple[torch.dtype, ...] = (torch.float64, torch.float32, torch.bfloat16, torch.float16)
    #: the strategy of problems this optimiser takes, where the default dense gradient streams
    #: of :func:`properties.strategies.problems` do not apply (sparse-only, closure-driven)
    problems: ProblemBuilder | None = None
    #: torch refuses dense gradients (SparseAdam): every gradient is a sparse COO tensor
    sparse_only: bool = False
    #: torch allows one param group only (LBFGS): the param-groups invariant does not apply,
    #: and :meth:`fit` merges the groups of a drawn problem into one
    single_group: bool = False
    #: torch rejects parameters that are not matrices (Muon: 2-D only): without
    #: ``param_shapes``, problems draw matrices only (:meth:`shapes`)
    only_2d: bool = False
    #: device types torch's ``fused=True`` runs on (Adagrad's fused kernel: CPU and CUDA only,
    #: torch 2.13 adagrad.py:274)
    fused_devices: tuple[str, ...] = FUSED_DEVICES
    #: hyperparameters torch 2.13's for-loop path passes as the real ``alpha`` of an ``add``
    #: on *complex* tensors (coupled weight decay ``grad.add(param, alpha=weight_decay)``,
    #: e.g. adam.py:428; Adadelta's ``param.add_(delta, alpha=-lr)``, adadelta.py:301-302; all
    #: of SGD, sgd.py:350-379, ``dampening`` as ``alpha=1 - dampening``): the domain of
    #: :func:`properties.invariants.complex_is_view_as_real` makes each a power of two
    complex_alphas: tuple[str, ...] = ()
    #: decoupled weight decay multiplies a complex parameter by the tensor ``1 - lr *
    #: weight_decay`` when lr is a tensor (adam.py:419): for a 0-d complex64 parameter and a
    #: float64 lr, type promotion computes that product in complex128 while the real view
    #: stays float32 (Hypothesis found 1-ulp differences for AdamW)
    complex_tensor_lr_promotes: bool = False
    #: hyperparameters torch's constructor derives from others when given ``None`` (LBFGS's
    #: ``max_eval = max_iter * 5 // 4``); a param group's own ``None`` reaches ``step``
    #: unresolved, where torch raises ``TypeError``
    constructor_derived: Mapping[str, Callable[[Mapping[str, Any]], Any]] = field(
        default_factory=dict
    )

    @property
    def reference(self) -> type[Optimizer]:
        return torch_class(self.name)

    def modes_on(self, device: str) -> tuple[str, ...]:
        """torch's implementations of this optimiser that run on ``device`` (a device string
        such as ``"cpu"`` or ``"cuda:0"``)."""
        device_type = device.split(":")[0]
        return tuple(m for m in self.modes if m != "fused" or device_type in self.fused_devices)

    @property
    def dense_problems(self) -> bool:
        """The default :func:`properties.strategies.problems` applies to this optimiser."""
        return self.problems is None

    def shapes(self, coverage: bool = False) -> s.ShapeStrategy | None:
        """The parameter shapes to draw: ``param_shapes``; without them, matrices where torch
        takes nothing else (``only_2d``: of :func:`properties.strategies.coverage_shapes` when
        ``coverage``, else small ones), the default otherwise (``None``, or
        ``coverage_shapes()`` when ``coverage``)."""
        if self.param_shapes is not None:
            return self.param_shapes
        if coverage:
            return s.coverage_shapes(min_dims=2 if self.only_2d else 0)
        return s.shapes(min_dims=2, max_dims=2) if self.only_2d else None

    def fit(self, strategy: st.SearchStrategy[Problem]) -> st.SearchStrategy[Problem]:
        """``strategy``'s problems as torch's class takes them: in one param group where it
        allows no more (``single_group``, :func:`one_group`)."""
        return strategy.map(one_group) if self.single_group else strategy

    def problem_strategy(
        self, hyper: HyperStrategy | None = None, **options: Any
    ) -> st.SearchStrategy[Problem]:
        """This optimiser's problems (its own builder, else the default dense streams), with
        its parameter shapes (:meth:`shapes`) and schedulable keys unless ``options`` set
        them, fitted to what torch's class takes (:meth:`fit`)."""
        options.setdefault("param_shapes", self.shapes())
        options.setdefault("schedulable", self.schedulable)
        builder = self.problems if self.problems is not None else s.problems
        return self.fit(builder(hyper if hyper is not None else self.hyper, **options))


def one_group(problem: Problem) -> Problem:
    """``problem`` with its param groups merged into one, which keeps the first group's
    hyperparameters and scheduled changes (a problem of one group: as it is)."""
    if len(problem.groups) <= 1:
        return problem
    members = tuple(sorted(i for group in problem.groups for i in group))
    schedule = {k: changes[:1] for k, changes in problem.schedule.items()}
    return replace(problem, groups=(members,), hyper=problem.hyper[:1], schedule=schedule)


def torch_class(name: str) -> type[Optimizer]:
    """``torch.optim.<name>``, or a dotted path such as ``torch.optim.Adam``."""
    obj: Any = torch.optim
    for part in name.removeprefix("torch.optim.").split("."):
        obj = getattr(obj, part)
    return obj
