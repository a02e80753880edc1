"""T claims: torch 2.13 against its own documentation, each decided by an executed check.

Every check reads the documented behaviour (docstring or signature) from the installed
package and runs the smallest piece of torch that shows whether the code does it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import torch

from optverify.analytic._common import table, text
from optverify.analytic.verdict import Context, Verdict

__all__ = ["CHECKS"]


def check_adafactor_wd(ctx: Context) -> Verdict:
    """T.adafactor.wd_default (torch/optim/_adafactor.py:31 signature, :245 docstring)."""
    doc = ctx.given("doc", torch.optim.Adafactor.__doc__ or "")
    m = re.search(r"weight_decay \(float, optional\):.*?\(default:\s*([^)]+)\)", doc, re.S)
    documented = float(m.group(1)) if m else None
    actual = inspect.signature(torch.optim.Adafactor.__init__).parameters["weight_decay"].default
    p = torch.nn.Parameter(torch.ones(2, 2))
    group_wd = torch.optim.Adafactor([p]).param_groups[0]["weight_decay"]
    ev = (
        table(
            "weight_decay default",
            ("source", "value"),
            (
                ("docstring", documented),
                ("signature", actual),
                ("param_groups[0] of Adafactor(params)", group_wd),
            ),
        ),
    )
    if documented is not None and documented == actual:
        return Verdict("holds", "documented and actual defaults agree", evidence=ev)
    return Verdict(
        "fails",
        (
            f"the docstring says weight_decay defaults to {documented}, the "
            f"constructor uses {actual}: Adafactor(params) applies no weight "
            "decay"
        ),
        evidence=ev,
    )


def check_muon_momentum(ctx: Context) -> Verdict:
    """T.muon.momentum (torch/optim/_muon.py: docstring B_t ← μB_{t−1} + g_t; code
    ``buf.lerp_(grad, 1 − μ)``)."""
    mu = 0.95
    p = torch.nn.Parameter(torch.zeros(2, 2, dtype=torch.float32))
    opt = torch.optim.Muon([p], lr=0.0, momentum=mu, nesterov=False)
    g1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    g2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    for gr in (g1, g2):
        p.grad = gr.clone()
        opt.step()
    buf = opt.state[p]["momentum_buffer"]
    rule = ctx.given("documented", lambda m, b, g: m * b + g)  # B_t = μB_{t−1} + g_t
    documented = rule(mu, rule(mu, torch.zeros(2, 2), g1), g2)
    ema = mu * (1 - mu) * g1 + (1 - mu) * g2
    doc_ok = torch.allclose(buf, documented)
    ema_ok = torch.allclose(buf, ema)
    has_doc = "B_t \\leftarrow \\mu B_{t-1} + g_t" in (torch.optim.Muon.__doc__ or "")
    ev = (
        table(
            "buffer after two steps (μ = 0.95)",
            ("rule", "B₂[0,0]", "B₂[0,1]", "matches torch"),
            (
                ("torch", float(buf[0, 0]), float(buf[0, 1]), True),
                ("documented μB + g", float(documented[0, 0]), float(documented[0, 1]), doc_ok),
                ("EMA (1−μ)-weighted", float(ema[0, 0]), float(ema[0, 1]), ema_ok),
            ),
        ),
        text("docstring", f"documents B_t ← μB_(t−1) + g_t: {has_doc}"),
    )
    if doc_ok:
        return Verdict("holds", "the buffer follows the documented sum", evidence=ev)
    return Verdict(
        "fails",
        (
            "Muon keeps an EMA B ← μB + (1−μ)g (lerp), not the documented "
            "B ← μB + g: the buffer is (1−μ) = 1/20 of the documented one"
        )
        + (
            (
                " (with nesterov=False the orthogonalisation removes the overall "
                "scale, so there only the doc is off; with nesterov=True the "
                "g/B mix differs)"
            )
            if ema_ok
            else ""
        ),
        evidence=ev,
    )


def check_adagrad_group_init(ctx: Context) -> Verdict:
    """T.adagrad.group_init (torch/optim/adagrad.py:79-97 and 172-174 read
    ``initial_accumulator_value`` from the constructor/defaults)."""
    a = torch.nn.Parameter(torch.zeros(2))
    b = torch.nn.Parameter(torch.zeros(2))
    groups: list[dict[str, Any]] = [
        {"params": [a]},
        {"params": [b], "initial_accumulator_value": ctx.given("group_value", 0.5)},
    ]
    opt = torch.optim.Adagrad(groups, lr=0.1)
    sum_b_init = float(opt.state[b]["sum"][0])
    c = torch.nn.Parameter(torch.zeros(2))
    opt.add_param_group({"params": [c],
                         "initial_accumulator_value": ctx.given("group_value", 0.5)})  # fmt: skip
    c.grad = torch.zeros(2)
    opt.step()
    sum_c = float(opt.state[c]["sum"][0])
    ev = (
        table(
            "state['sum'] of a group asking for initial_accumulator_value = 0.5",
            ("how the group was given", "group value", "state sum"),
            (
                (
                    "in the constructor list",
                    opt.param_groups[1]["initial_accumulator_value"],
                    sum_b_init,
                ),
                ("via add_param_group", opt.param_groups[2]["initial_accumulator_value"], sum_c),
            ),
        ),
    )
    want = ctx.given("group_value", 0.5)
    if sum_b_init == want and sum_c == want:
        return Verdict("holds", "per-group values are honoured", evidence=ev)
    return Verdict(
        "fails",
        (
            "the group records initial_accumulator_value = 0.5 but its accumulator "
            "starts at the constructor's value 0"
        ),
        evidence=ev,
    )


def check_rmsprop_centered(ctx: Context) -> Verdict:
    """T.rmsprop.centered (torch/optim/rmsprop.py:316-323): ``square_avg − grad_avg²`` then
    ``sqrt``.

    v − ḡ² = α^t(1−α^t)g² ≥ 0 in exact arithmetic for a constant gradient, but in float32 it
    rounds below zero once α^t is small; sqrt gives NaN, and ε is added after the sqrt.
    """
    found = None
    dtype = ctx.given("dtype", torch.float32)
    for gval in (0.1, 0.3, 0.7, 1.3, 3.0, 0.01):
        p = torch.nn.Parameter(torch.zeros(1, dtype=dtype))
        opt = torch.optim.RMSprop([p], lr=1e-3, alpha=0.9, centered=True)
        for step in range(1, int(ctx.given("steps", 400))):
            p.grad = torch.full((1,), gval, dtype=dtype)
            opt.step()
            if torch.isnan(p).any():
                st = opt.state[p]
                found = (
                    gval,
                    step,
                    float(st["square_avg"]),
                    float(st["grad_avg"]),
                    float(st["square_avg"] - st["grad_avg"] ** 2),
                )
                break
        if found:
            break
    ev: tuple = (
        text(
            "search",
            (
                f"constant {dtype} gradients g ∈ {{0.1, 0.3, 0.7, 1.3, 3, 0.01}}, "
                f"alpha 0.9, up to {ctx.given('steps', 400)} steps"
            ),
        ),
    )
    if found:
        ev = (
            table(
                "first NaN",
                ("g", "step", "square_avg v", "grad_avg ḡ", "v − ḡ² (float32)"),
                (found,),
            ),
            *ev,
        )
        return Verdict(
            "fails",
            (
                f"with a constant gradient {found[0]} the parameter becomes NaN "
                f"at step {found[1]}: v − ḡ² rounds to {found[4]:.3g} and sqrt "
                "gives NaN (ε is added after the sqrt)"
            ),
            evidence=ev,
        )
    return Verdict("holds", "no NaN found in the search", evidence=ev)


def check_state_dict_copy(ctx: Context) -> Verdict:
    """T.state_dict.copy (torch/optim/optimizer.py:774-803: ``_cast`` is documented 'Make a deep
    copy of value')."""
    from torch.optim import optimizer as optmod

    src = inspect.getsource(optmod.Optimizer.load_state_dict)
    documents_copy = "deep copy" in src.lower()
    p = torch.nn.Parameter(torch.ones(3))
    a = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3)
    a.step()
    sd = a.state_dict()
    q = torch.nn.Parameter(torch.ones(3))
    b = torch.optim.Adam([q], lr=0.1)
    ctx.given("load", lambda opt, state: opt.load_state_dict(state))(b, sd)
    caller = sd["state"][0]["exp_avg"]
    before = caller.clone()
    same_object = b.state[q]["exp_avg"] is caller
    q.grad = torch.full((3,), 5.0)
    b.step()
    mutated = not torch.equal(caller, before)
    ev = (
        table(
            "after b.load_state_dict(sd) and one b.step()",
            ("check", "result"),
            (
                ("b.state[q]['exp_avg'] is sd['state'][0]['exp_avg']", same_object),
                ("caller's tensor changed by b.step()", mutated),
                ("load_state_dict/_cast source mentions 'deep copy'", documents_copy),
            ),
        ),
    )
    if same_object or mutated:
        return Verdict(
            "fails",
            (
                "load_state_dict keeps the caller's state tensors by reference "
                "when dtype/device already match; stepping the new optimiser "
                "mutates the caller's state_dict"
            ),
            evidence=ev,
        )
    return Verdict("holds", "state is copied", evidence=ev)


def check_sparseadam_eps(ctx: Context) -> Verdict:
    """T.sparseadam.eps (torch/optim/_functional.py:77-84: ``denom = sqrt(v) + eps`` on the
    uncorrected v, step = lr·√bc2/bc1).

    Adam: Δ = lr·m̂/(√v̂ + ε). SparseAdam: Δ = lr·m̂/(√v̂ + ε/√(1−β₂ᵗ)): at t = 1 with β₂ = 0.999
    the effective ε is 31.6× larger.
    """
    gval = float(ctx.given("grad", 1e-8))
    res = {}
    for name in ("Adam", "SparseAdam"):
        emb = torch.nn.Embedding(1, 1, sparse=(name == "SparseAdam"))
        torch.nn.init.zeros_(emb.weight)
        opt = (
            torch.optim.SparseAdam(list(emb.parameters()), lr=1.0)
            if name == "SparseAdam"
            else torch.optim.Adam(emb.parameters(), lr=1.0)
        )
        (emb(torch.tensor([0])).sum() * gval).backward()
        opt.step()
        res[name] = -float(emb.weight.detach()[0, 0])
    predicted_adam = gval / (gval + 1e-8)
    predicted_sparse = gval / (gval + 1e-8 / (1 - 0.999) ** 0.5)
    ev = (
        table(
            f"first step with gradient {gval:g}, lr 1, eps 1e-8",
            ("optimizer", "step", "predicted"),
            (
                ("Adam", f"{res['Adam']:.6f}", f"{predicted_adam:.6f}"),
                ("SparseAdam", f"{res['SparseAdam']:.6f}", f"{predicted_sparse:.6f}"),
            ),
        ),
    )
    if abs(res["Adam"] - res["SparseAdam"]) <= 1e-6 * abs(res["Adam"]):
        return Verdict("holds", f"same first step ({res['Adam']:.6g}) for gradient {gval:g}",
                       evidence=ev)  # fmt: skip
    return Verdict(
        "fails",
        (
            "SparseAdam adds ε before bias correction (ε/√(1−β₂ᵗ) in Adam's "
            f"terms): its first step is {res['SparseAdam']:.4f} vs Adam's "
            f"{res['Adam']:.4f} for a {gval:g} gradient"
        ),
        evidence=ev,
    )


def check_rprop_lr(ctx: Context) -> Verdict:
    """T.rprop.lr (torch/optim/rprop.py:106-110 copy lr into state['step_size'] once; 279 adapts
    only that)."""

    cls = ctx.given("cls", torch.optim.Rprop)

    def run(change: bool) -> float:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = cls([p], lr=0.01)
        for k in range(4):
            if change and k == 2:
                for grp in opt.param_groups:
                    grp["lr"] = 1.0
            p.grad = torch.ones(1)
            opt.step()
        return float(p.item())

    same = run(False) == run(True)
    ev = (
        table(
            f"4 {cls.__name__} steps, gradient 1, lr 0.01; lr set to 1.0 before step 3",
            ("run", "θ₄"),
            (("lr unchanged", run(False)), ("lr changed", run(True))),
        ),
    )
    if same:
        return Verdict(
            "fails",
            (
                "Rprop copies lr into per-element step sizes at the first step; "
                "later lr changes (schedulers included) have no effect"
            ),
            evidence=ev,
        )
    return Verdict("holds", "lr changes take effect", evidence=ev)


def check_rmsprop_alpha(ctx: Context) -> Verdict:
    """T.rmsprop.alpha_range (torch/optim/rmsprop.py:55-56 only checks ``0 <= alpha``)."""
    accepted = []
    cls = ctx.given("cls", torch.optim.RMSprop)
    for a in (1.0, 1.5, 10.0):
        try:
            cls([torch.nn.Parameter(torch.zeros(1))], alpha=a)
            accepted.append((a, "accepted"))
        except ValueError as exc:
            accepted.append((a, f"ValueError: {exc}"))
    ev = (table("RMSprop(alpha=…)", ("alpha", "constructor"), accepted),)
    if any(r[1] == "accepted" for r in accepted if r[0] > 1):
        return Verdict(
            "fails",
            (
                "RMSprop accepts alpha > 1 (only alpha ≥ 0 is validated); then "
                "1 − alpha < 0 and square_avg goes negative (see N000.rmsprop.bounded)"
            ),
            evidence=ev,
        )
    return Verdict("holds", "alpha > 1 is rejected", evidence=ev)


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    "T.adafactor.wd_default": check_adafactor_wd,
    "T.muon.momentum": check_muon_momentum,
    "T.adagrad.group_init": check_adagrad_group_init,
    "T.rmsprop.centered": check_rmsprop_centered,
    "T.state_dict.copy": check_state_dict_copy,
    "T.sparseadam.eps": check_sparseadam_eps,
    "T.rprop.lr": check_rprop_lr,
    "T.rmsprop.alpha_range": check_rmsprop_alpha,
}
