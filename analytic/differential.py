r"""The D claims: the notes' update rules against the ``torch.optim`` class they name.

Every check runs the lock-step harness (:func:`properties.harness.run_lockstep`) on a
deterministic, seeded sweep of generated problems and reports

* **agree / differ**, judged by :func:`properties.tolerances.faithful` (an algebraically
  equivalent reordering passes, a misplaced :math:`\epsilon` fails), in float64, the oracle
  dtype, and for information also in float32 (the notes' own dtype);
* **where**: the sweep has four axes — the gradient magnitude :math:`|g|` over
  :data:`MAGNITUDES` (:math:`10^{-12} \dots 10^{3}`), the hyperparameters *as the notes call
  them*, shared hyperparameters varied one at a time over their valid range, and the
  learning rate changed between steps (as a scheduler does);
* **by how much**: the largest relative difference of the *update*
  :math:`\Delta\theta = \theta_{\text{end}} - \theta_0` (the parameters themselves hide a
  difference in a tiny update);
* **a minimal counterexample**: the smallest failing problem found (one 1-element
  parameter, a constant gradient, the fewest steps), replayable with :func:`replay`.

Decision rule (the same for every claim):

* ``fails`` — the rules differ at the notes' own hyperparameters, with a constant learning
  rate, for a gradient magnitude in :data:`NORMAL_BAND` (normal use);
* ``holds-if`` — they agree in normal use but differ somewhere else in the sweep; the
  condition excludes exactly the settings that differed (e.g. "the learning rate is not
  changed between steps");
* ``holds`` — they agree on every problem of the sweep.

For each :math:`\epsilon` difference the check also returns figure data: the relative
difference of the first update, notes' rule against torch's, as a function of :math:`|g|`
(``Evidence(kind="figure")``, payload documented in :func:`eps_figure`).

The subjects (what is compared with what) are in :mod:`analytic.differential_subjects`, the
problems, measurements and counterexamples of the sweep in :mod:`analytic.differential_sweep`;
this module decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from optverify.analytic.differential_subjects import SUBJECTS, Subject
from optverify.analytic.differential_sweep import (
    FIGURE_X,
    MAGNITUDES,
    NORMAL_BAND,
    ONE_PERCENT,
    STEPS,
    Outcome,
    eps_figure,
    first_update_reldiff,
    fmt_magnitude,
    hyper_text,
    magnitude_ranges,
    measure,
    minimal_counterexample,
    replay,
    stream_problem,
    sweep_cases,
    tolerance,
)
from optverify.analytic.verdict import Context, Evidence, Verdict
from optverify.properties.harness import run_lockstep, run_problem

__all__ = [
    "CHECKS",
    "MAGNITUDES",
    "NORMAL_BAND",
    "SUBJECTS",
    "Subject",
    "first_update_reldiff",
    "replay",
]

# --------------------------------------------------------------------------------------------
# Deciding


def _condition(outcome: Outcome) -> str:
    case = outcome.case
    if case.axis == "lr change":
        return "the learning rate is not changed between steps"
    if case.axis == "hyperparameter":
        (key, value), *rest = case.override.items()
        if not rest and isinstance(value, bool):
            return f"{key}={not value}"
        return "not (" + hyper_text(case.override) + ")"
    return f"|g| outside {case.magnitude:g}"


def _in_normal_band(m: float) -> bool:
    return NORMAL_BAND[0] <= m <= NORMAL_BAND[1]


def _decide(subject: Subject, ctx: Context) -> Verdict:
    outcomes = [measure(subject, case) for case in sweep_cases(subject, ctx.seed)]
    # float64 is the oracle dtype: it decides; float32 (the notes' dtype) is reported
    failing = [o for o in outcomes if o.divergence is not None and o.case.dtype == torch.float64]
    base64 = [o for o in outcomes if o.case.axis == "as called" and o.case.dtype == torch.float64]
    base32 = [o for o in outcomes if o.case.axis == "as called" and o.case.dtype == torch.float32]
    normal_fail = [
        o for o in base64 if o.divergence is not None and _in_normal_band(o.case.magnitude)
    ]
    other_fail = [o for o in failing if o.case.axis != "as called"]
    evidence: list[Evidence] = []

    # where and by how much, along |g|, at the notes' hyperparameters
    rows = []
    for o64, o32 in zip(base64, base32, strict=True):
        rows.append(
            (
                f"{o64.case.magnitude:.0e}",
                "differ" if o64.divergence else "agree",
                f"{o64.update_rel:.3g}",
                "differ" if o32.divergence else "agree",
                f"{o32.update_rel:.3g}",
            )
        )
    evidence.append(
        Evidence(
            kind="table",
            title=f"{subject.target_name} vs {subject.reference_name}, as the notes call them",
            text=(
                f"{STEPS}-step runs of two parameters (shapes (3,) and (2, 2)), gradients of "
                "random sign and size in [0.5, 1.5]·|g|, seed "
                f"{ctx.seed}; verdicts under properties.tolerances.faithful; 'update rel diff' "
                "is the largest relative difference of θ_end − θ₀."
            ),
            columns=(
                "|g|",
                "float64",
                "float64 update rel diff",
                "float32",
                "float32 update rel diff",
            ),
            rows=tuple(rows),
        )
    )
    fail64 = [o.case.magnitude for o in base64 if o.divergence is not None]
    fail32 = [o.case.magnitude for o in base32 if o.divergence is not None]
    big = [o.case.magnitude for o in base64 if o.update_rel >= ONE_PERCENT]
    worst = max(base64, key=lambda o: o.update_rel)
    region = (
        f"At the notes' hyperparameters ({hyper_text(subject.base)}) they differ beyond the "
        f"faithful tolerance for |g| in {magnitude_ranges(fail64, MAGNITUDES)} (float64) and "
        f"{magnitude_ranges(fail32, MAGNITUDES)} (float32); by more than 1 % of the update for "
        f"|g| in {magnitude_ranges(big, MAGNITUDES)}; largest relative difference of the update "
        f"{worst.update_rel:.3g} at |g| = {worst.case.magnitude:.0e}."
    )
    sweep_rows = [
        (
            o.case.axis,
            o.case.describe(),
            "differ" if o.divergence else "agree",
            f"{o.update_rel:.3g}",
            "" if o.divergence is None else str(o.divergence),
        )
        for o in outcomes
        if o.case.axis != "as called"
    ]
    evidence.append(
        Evidence(
            kind="table",
            title="the sweep: hyperparameters over their valid range and learning-rate changes",
            columns=("axis", "problem", "verdict", "update rel diff", "first divergence"),
            rows=tuple(sweep_rows),
        )
    )
    if subject.eps:
        ys = [first_update_reldiff(subject, x) for x in FIGURE_X]
        evidence.append(eps_figure(subject, ys))
        first_big = [x for x, y in zip(FIGURE_X, ys, strict=True) if y >= ONE_PERCENT]
        region += (
            f" First update: relative difference ≥ 1 % for |g| between "
            f"{fmt_magnitude(min(first_big)) if first_big else '-'} and "
            f"{fmt_magnitude(max(first_big)) if first_big else '-'} (figure)."
        )
    if subject.aligned is not None:
        aligned_fail = [
            o.case.magnitude
            for o in base64
            if run_lockstep(subject.target, subject.aligned, o.case.problem, tolerance) is not None
        ]
        evidence.append(
            Evidence(
                kind="text",
                title="with the notes' ε value given to torch",
                text=(
                    f"Against {subject.aligned_name} the notes' rule "
                    + (
                        "agrees at every |g| of the sweep: the difference is the ε value alone."
                        if not aligned_fail
                        else "still differs for |g| in "
                        f"{magnitude_ranges(aligned_fail, MAGNITUDES)}: the difference is where "
                        "ε sits, not only its value."
                    )
                ),
                data={"aligned_differs_at": aligned_fail},
            )
        )
    for remark in subject.remarks:
        evidence.append(Evidence(kind="text", title="note", text=remark))
    if subject.eps:
        evidence.append(Evidence(kind="text", title="the ε difference", text=subject.eps))
    if failing:
        evidence.insert(0, minimal_counterexample(subject, normal_fail or failing))
    evidence.insert(0, Evidence(kind="text", title="where and by how much", text=region))

    versus = f"{subject.target_name} vs {subject.reference_name}"
    if normal_fail:
        return Verdict(
            "fails",
            f"{versus}: they differ in normal use. {region}",
            evidence=tuple(evidence),
        )
    # The notes' code keeps its learning rate constant (rule 1 of analytic.verdict): a
    # difference after an lr change is outside the note's premises and reported, not a
    # condition. A difference at other hyperparameters (which the note does not fix) is.
    lr_fail = [o for o in other_fail if o.case.axis == "lr change"]
    hyper_fail = [o for o in other_fail if o.case.axis != "lr change"]
    if hyper_fail:
        conditions = sorted({_condition(o) for o in hyper_fail})
        where = "; ".join(sorted({o.case.describe() for o in hyper_fail}))
        worst_other = max(hyper_fail, key=lambda o: o.update_rel)
        return Verdict(
            "holds-if",
            f"{versus}: they agree on every problem at the notes' hyperparameters with a constant "
            f"learning rate, and differ only for: {where} (largest relative difference of the "
            f"update {worst_other.update_rel:.3g}).",
            condition=" and ".join(conditions),
            outside=f"{worst_other.case.describe()}: {worst_other.divergence}",
            evidence=tuple(evidence),
        )
    lr_text = ""
    if lr_fail:
        worst_lr = max(lr_fail, key=lambda o: o.update_rel)
        lr_text = (
            " The note's code keeps the learning rate constant; after a change of lr between "
            f"steps (outside the note) they differ: {worst_lr.case.describe()}, relative "
            f"difference of the update {worst_lr.update_rel:.3g}."
        )
        evidence.append(Evidence(kind="text", title="outside the note: lr changed between steps",
                                 text=lr_text.strip()))  # fmt: skip
    in64 = [o for o in outcomes if o.case.dtype == torch.float64 and o not in lr_fail]
    worst64 = max(in64, key=lambda o: o.update_rel)
    worst32 = max(base32, key=lambda o: o.update_rel)
    float32_text = (
        " In float32 the faithful tolerance is exceeded at |g| in "
        f"{magnitude_ranges(fail32, MAGNITUDES)} only: rounding of a different operation "
        "order (float64 agrees there), largest relative difference of the update "
        f"{worst32.update_rel:.3g}."
        if fail32
        else f" float32 agrees too (largest relative difference {worst32.update_rel:.3g})."
    )
    return Verdict(
        "holds",
        f"{versus}: they agree within the faithful tolerance on all {len(in64)} float64 problems "
        f"(|g| from 1e-12 to 1e3, hyperparameters over their range"
        f"{', learning-rate changes' if subject.lr_change and not lr_fail else ''}); largest "
        f"relative difference of the update {worst64.update_rel:.3g}.{float32_text}{lr_text}",
        evidence=tuple(evidence),
    )


def _subject(claim: str, ctx: Context) -> Subject:
    """The claim's subject, with fields replaced by ``ctx.given("subject", {...})`` (tests
    hand a planted target or another reference here)."""
    return replace(SUBJECTS[claim], **ctx.given("subject", {}))


def _check_for(claim: str) -> Callable[[Context], Verdict]:
    def check(ctx: Context) -> Verdict:
        return _decide(_subject(claim, ctx), ctx)

    check.__name__ = "check_" + claim.replace(".", "_")
    check.__doc__ = f"Decide {claim} by the differential sweep (see the module docstring)."
    return check


def _check_finetune(ctx: Context) -> Verdict:
    subject = _subject("N004.finetune.groups", ctx)
    verdict = _decide(subject, ctx)
    lr, wd = subject.base["lr"], subject.base["weight_decay"]
    problem = stream_problem(1.0, subject.base, None, torch.float64, ctx.seed, groups=2)
    run = run_problem(subject.target, problem, steps=1)
    rows = []
    own_lr = True
    for j, (indices, group_lr) in enumerate((((0, 1), lr), ((2, 3), 10 * lr))):
        for i in indices:
            p0, g = problem.params[i], problem.grads[0][i]
            assert g is not None
            expected = p0 - group_lr * (g + wd * p0)
            got = run.params[i].detach()
            err = float((got - expected).abs().max())
            own_lr = own_lr and err <= 1e-12 * float(expected.abs().max())
            rows.append((f"group {j}", f"param {i}", f"{group_lr:g}", f"{err:.3g}"))
    evidence = (
        Evidence(
            kind="table",
            title="first step by hand: θ₁ = θ₀ − lr_j (g + λθ₀), λ = 1e-3",
            columns=("group", "parameter", "lr_j", "max |θ₁ − hand|"),
            rows=tuple(rows),
        ),
        *verdict.evidence,
    )
    if not own_lr:
        return Verdict(
            "fails",
            "a group is not updated with its own learning rate: " + verdict.summary,
            evidence=evidence,
        )
    return Verdict(
        verdict.verdict,
        "each group is updated with its own lr (first step by hand), and " + verdict.summary,
        condition=verdict.condition,
        evidence=evidence,
    )


CHECKS: dict[str, Callable[[Context], Verdict]] = {
    claim: _check_for(claim) for claim in SUBJECTS if claim != "N004.finetune.groups"
}
CHECKS["N004.finetune.groups"] = _check_finetune
