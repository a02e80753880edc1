"""Claims of the notes, decided: sympy proofs, numeric reproductions, audits, torch-doc checks.

``analytic.claims`` holds the registry (``CLAIMS``, ``decide_all``); the topic modules
(``momentum``, ``learning_rate``, ``ema``, ``adaptive``, ``word2vec``, ``basics``,
``numbers``, ``audit``, ``torch_docs``, and the D/E modules ``differential`` and
``empirical``) each expose ``CHECKS: dict[str, Callable[[Context], Verdict]]``.
"""
