"""What the command line says to a person: name suggestions, the Ctrl-C count, and quiet for
the warnings our own code provokes.

* :func:`suggest` / :func:`unknown_message` — ``--against adam`` answers "did you mean 'Adam'?";
* :data:`EXAMPLES` — a process-wide count of examples that passed, so that an interrupted run
  can say how far it got (:func:`interrupted_message`);
* :func:`quiet_own_warnings` — hides the two warnings that our reference classes (and torch's
  own on the same input) raise by design, and nothing a user's class raises.
"""

from __future__ import annotations

import contextlib
import difflib
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "EXAMPLES",
    "ExampleCount",
    "interrupted_message",
    "quiet_own_warnings",
    "suggest",
    "unknown_message",
]


def suggest(name: str, choices: Iterable[str]) -> str | None:
    """The choice ``name`` most likely meant, or ``None``.

    A case-insensitive match wins (``adam`` -> ``Adam``, ``torch.optim.sgd`` -> ``SGD``), then
    the closest spelling (``Adamm`` -> ``Adam``, ``RMSProp`` -> ``RMSprop``)."""
    options = list(choices)
    bare = name.strip().removeprefix("torch.optim.")
    folded = {c.casefold(): c for c in options}
    if bare.casefold() in folded:
        return folded[bare.casefold()]
    close = difflib.get_close_matches(bare.casefold(), list(folded), n=1, cutoff=0.6)
    return folded[close[0]] if close else None


def unknown_message(what: str, name: str, choices: Iterable[str], where: str = "") -> str:
    """One line: ``unknown optimiser 'adam'; did you mean 'Adam'? valid: Adam, SGD, ...``
    (``where="for --against"`` goes after the name)."""
    options = list(choices)
    guess = suggest(name, options)
    hint = f"did you mean {guess!r}? " if guess is not None and guess != name else ""
    named = f"{name!r} {where}" if where else repr(name)
    return f"unknown {what} {named}; {hint}valid: {', '.join(options)}"


@dataclass
class ExampleCount:
    """Examples that ran to the end without a difference, in this process."""

    passed: int = 0

    def reset(self) -> None:
        self.passed = 0

    def add(self, n: int = 1) -> None:
        self.passed += n


#: the count an interrupted command reports (the ``around_example`` hooks increment it)
EXAMPLES = ExampleCount()


def interrupted_message(prog: str, count: ExampleCount = EXAMPLES) -> str:
    """``optverify check: interrupted after 37 examples passed (no difference found so far)``."""
    n = count.passed
    plural = "" if n == 1 else "s"
    return f"{prog}: interrupted after {n} example{plural} passed (no difference found so far)"


#: (message regex, module regex) of the warnings our own reference code raises by design:
#: SparseAdam rebuilds sparse tensors whose invariants it knows hold (torch warns that the
#: checks are off), LBFGS turns the closure's loss into a float (torch warns about
#: ``requires_grad``); torch's own LBFGS does the same.
OWN_WARNINGS = (
    (r"Sparse invariant checks are implicitly disabled", r"optverify\.|torch\.optim\."),
    (r"Converting a tensor with requires_grad=True to a scalar", r"optverify\.|torch\.optim\."),
)


@contextlib.contextmanager
def quiet_own_warnings() -> Iterator[None]:
    """Ignore :data:`OWN_WARNINGS` raised from our modules or ``torch.optim`` (a user's class
    raising the same warning still shows it)."""
    with warnings.catch_warnings():
        install_own_warning_filters()
        yield


def install_own_warning_filters() -> None:
    """Add the filters of :func:`quiet_own_warnings` to the current warning filters (for use
    inside an existing ``warnings.catch_warnings()`` block, after ``simplefilter``)."""
    for message, module in OWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning, module=module)
