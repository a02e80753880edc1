"""Words shared by the Markdown and HTML reports: the glossary and the plain verdicts."""

from __future__ import annotations

from typing import Any

__all__ = ["GLOSSARY", "command_for", "plain_verdict", "verdict_cell"]

#: every term the report uses, defined once (term → definition)
GLOSSARY: dict[str, str] = {
    "holds": "a computation shows the claim, read with the premises its note states "
    "(analytic/verdict.py, rule 2).",
    "fails": "a computation contradicts the claim under the note's own premises; the evidence "
    "holds the counterexample (rule 3).",
    "holds-if": "the claim is true only under a condition the note does not state; the "
    "condition is given, with a computed case outside it where the claim fails (rule 4).",
    "condition": "for holds-if, the exact assumption under which the claim holds.",
    "case outside": "a computed input outside the condition, where the claim is false.",
    "premise": "what the note itself states about its symbols (e.g. 'γ is a positive number "
    "below 1'); part of the claim, never a condition.",
    "kind S / N / D / E / A / T": "symbolic (sympy), numeric reproduction of printed digits, "
    "differential (the note's rule against torch.optim), empirical (training runs over "
    "seeds), audit (the note's code on the installed torch), torch against its own "
    "documentation.",
    "faithful tolerance": "the per-element bound of properties.tolerances.faithful: an "
    "algebraically equivalent reordering passes, a misplaced ε does not (float64: a few ulps "
    "per operation).",
    "update rel diff": "the largest relative difference, over elements, of the update "
    "Δθ = θ_end − θ₀ between the two optimisers (the parameters themselves would hide a "
    "difference in a small update).",
    "normal use": "gradient magnitudes |g| between 1e-6 and 10, at the note's own "
    "hyperparameters with a constant learning rate.",
    "sweep": "the problems a D claim is run on: |g| from 1e-12 to 1e3, hyperparameters over "
    "their valid range one at a time, and learning-rate changes between steps.",
    "counterexample": "the smallest failing input found, replayable (analytic.differential."
    "replay for D claims).",
    "seed": "the integer that fixes random data, initialisation and batch order; E claims use "
    "seeds 0-4, D sweeps seed 0.",
    "paired effect": "per seed, the claimed quantity of one setting minus the other's; "
    "positive means as claimed.",
    "SE": "standard error of the mean paired effect, sd/√n over the seeds.",
    "significant": "the paired effect is positive in every seed and its mean exceeds 3 SE.",
    "noise": "standard deviation of log10(mini-batch loss) around its 25-step centred moving "
    "average, after the first 50 steps.",
    "rebounds": "fraction of 10-step evaluation intervals in which the whole-set loss rose.",
    "dead ReLU": "a hidden unit that outputs 0 on every training input; a network whose "
    "hidden units are all dead predicts a constant.",
    "contraction per step": "the spectral radius of the iteration matrix: the factor by which "
    "the distance to the minimum shrinks per step in the long run (< 1: converges).",
    "ε placement": "where the stabilising ε enters: inside the square root, √(s + ε), or "
    "outside it, √s + ε.",
    "sha256": "the SHA-256 digest of a notes file as read for this report.",
    "dirty": "the checkout had uncommitted changes to tracked files when the report was made.",
}


def verdict_cell(out: Any) -> str:
    """The full verdict for a table cell: ``holds-if <condition>`` included."""
    if out.verdict == "holds-if":
        return f"holds-if {out.condition}"
    return str(out.verdict)


def plain_verdict(out: Any) -> str:
    """One plain sentence saying what was decided."""
    if out.verdict == "holds":
        return "The claim is true as the note states it."
    if out.verdict == "fails":
        return "The claim is false as the note states it; the evidence shows where."
    if out.verdict == "holds-if":
        outside = getattr(out, "outside", "")
        return f"The claim is true only if {out.condition}; outside that it fails" + (
            f" ({outside})." if outside else "."
        )
    return f"Not decided ({out.verdict}): {out.summary}"


def command_for(cid: str) -> str:
    """The command that re-decides this one claim."""
    return f"optverify claims --only {cid} --notes NOTES_DIR"
