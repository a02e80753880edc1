"""Rendering an ``optverify check`` outcome: the one-line verdict, the text report and JSON.

Every mismatch states its class (``mismatch``, ``overflow``, ``non-finite kind``,
``validation``, …), where it shows, the errors of the target and of torch against the exact
maths in units of roundoff, the likely cause where the tool can tell, the values side by
side, the rerun command and the repro script.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optverify.check.loading import one_line

if TYPE_CHECKING:
    from optverify.check.run import Outcome
    from optverify.properties.harness import Problem
    from optverify.properties.specs import Spec
    from optverify.properties.verdict import Finding

__all__ = ["divergence_line", "headline", "render_json", "render_text", "rerun_command"]


def _reference_call(spec: Spec, mode: str | None) -> str:
    from optverify.properties.conformance import mode_kwargs

    kwargs = mode_kwargs(spec, mode) if mode else {}
    return f"torch.optim.{spec.name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def rerun_command(o: Outcome) -> str:
    parts = ["optverify", "check", o.target.text, "--against", o.spec.name, "--seed", str(o.seed)]
    from optverify.properties.source import value_code

    for key, value in o.pins.items():
        parts += ["--set", f"{key}={value_code(value)}"]
    parts += o.options
    return " ".join(_shell_quote(p) for p in parts)


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _case(problem: Problem) -> str:
    from optverify.properties.source import hyper_code

    groups = "; ".join(hyper_code(h) for h in problem.hyper)
    schedule = "".join(
        f"; before step {k + 1} set {', '.join(hyper_code(c) for c in changes)}"
        for k, changes in problem.schedule.items()
    )
    return f"{groups}{schedule}; {problem.describe()}"


def divergence_line(d: Finding) -> str:
    """``overflow at step 2, param 0, state['exp_avg']: ... (errors in ulps); likely cause``."""
    where = "the constructor" if d.step < 0 else f"step {d.step + 1}"
    if d.param is not None:
        where += f", param {d.param}"
    if d.key is not None:
        where += f", state[{d.key!r}]"
    what = d.detail
    if d.what == "grad modified":
        what = "step() changed p.grad"
    elif d.what not in ("param", "state", "constructor", "exception"):
        what = f"{d.what}: {d.detail}"
    if not math.isnan(d.target_ulps):
        what += (
            f" (error against the exact maths: target {_ulps(d.target_ulps)}, torch "
            f"{_ulps(d.torch_ulps)}, allowed {_ulps(d.budget_ulps)})"
        )
    elif not math.isnan(d.max_abs):
        what += f" (max abs err {d.max_abs:.3g}, max rel err {d.max_rel:.3g})"
    if d.cause:
        what += f"; likely cause: {d.cause}"
    return f"{d.kind} at {where}: {what}"


def _ulps(x: float) -> str:
    if math.isinf(x) or math.isnan(x):
        return str(x)
    return f"{x:.3g} ulp" if x < 1e6 else f"{x:.2e} ulp"


def headline(o: Outcome) -> str:
    """The one-line verdict (what stderr gets for a mismatch): the difference and the case."""
    if o.conforms:
        return (
            f"{o.target.name} conforms to torch.optim.{o.spec.name}: {o.examples} examples, "
            f"varied {', '.join(o.varied) or 'nothing'}"
        )
    if o.problem is None:
        return f"interrupted: {o.examples} examples passed before the interruption, no verdict"
    return f"MISMATCH: {_verdict_line(o)}; case: {_case(o.problem)}"


def _verdict_line(o: Outcome) -> str:
    if o.hung is not None:
        where = "the constructor" if o.hung.step is None else f"step {o.hung.step + 1}"
        at = f" (at {o.hung.where})" if o.hung.where else ""
        return f"{o.target.name} hangs: {where} did not finish within {o.hung.seconds:g} s{at}"
    assert o.finding is not None
    ref = _reference_call(o.spec, o.mode)
    return f"{o.target.name} vs {ref}: {divergence_line(o.finding)}"


def _nonfinite_note(a: Any, b: Any) -> str | None:
    import torch

    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return None
    na = int((~torch.isfinite(a.detach().cpu())).sum())
    nb = int((~torch.isfinite(b.detach().cpu())).sum())
    if na == nb:
        return None
    return f"the target has {na} non-finite value(s) (nan/inf) where torch has {nb}"


def _side_by_side(a: Any, b: Any, exact: Any = None, limit: int = 12) -> list[str]:
    """The elements farthest apart first: target, torch (for-loop) and the exact maths."""
    import torch

    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)):
        return [f"    target: {a!r}", f"    torch:  {b!r}"]

    def flat(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().cpu().reshape(-1)
        if t.is_complex():
            t = torch.view_as_real(t.to(torch.complex128)).reshape(-1)
        return t.to(torch.float64)

    fa, fb = flat(a), flat(b)
    fc = flat(exact) if isinstance(exact, torch.Tensor) and exact.shape == a.shape else None
    if fc is not None and exact.dtype == a.dtype:
        fc = None  # the oracle was torch's own float64 run: nothing more to show
    n = max(fa.numel(), fb.numel())
    shape = f"shape {tuple(a.shape)}" + (f" vs {tuple(b.shape)}" if a.shape != b.shape else "")
    order = list(range(min(n, limit)))
    if n > limit and fa.numel() == fb.numel():
        gap = torch.nan_to_num((fa - fb).abs(), nan=math.inf)
        gap[(fa == fb) | (fa.isnan() & fb.isnan())] = -1.0
        order = sorted(gap.topk(limit).indices.tolist())
    lines = [
        f"    values ({shape}, {str(b.dtype).removeprefix('torch.')}"
        f"{'' if n <= limit else f'; the {limit} farthest apart of {n}'}):",
        f"    {'index':>7}  {'target':>24}  {'torch':>24}"
        + (f"  {'exact maths':>24}" if fc is not None else "")
        + f"  {'abs err':>10}",
    ]
    for i in order:
        x = float(fa[i]) if i < fa.numel() else math.nan
        y = float(fb[i]) if i < fb.numel() else math.nan
        err = abs(x - y) if math.isfinite(x) and math.isfinite(y) else math.inf
        if x == y or (math.isnan(x) and math.isnan(y)):
            err = 0.0
        mark = "  <" if err > 0 else ""
        exact_col = f"  {float(fc[i])!r:>24}" if fc is not None else ""
        lines.append(f"    {i:>7}  {x!r:>24}  {y!r:>24}{exact_col}  {err:>10.3g}{mark}")
    return lines


def render_text(o: Outcome, snippet: str | None) -> str:
    """The human report."""
    from optverify.properties.source import hyper_code, value_code

    lines: list[str] = []
    pinned = ", ".join(f"{k}={value_code(v)}" for k, v in o.pins.items()) or "nothing"
    if o.conforms:
        assert o.summary is not None
        lines += [
            f"conforms: {o.target.name} behaves like torch.optim.{o.spec.name} "
            f"({', '.join(o.summary.modes)}) on {o.device}",
            f"  examples: {o.examples} (dtypes {', '.join(o.dtypes)}), seed {o.seed}, "
            f"{o.seconds:.1f} s",
            *(
                [
                    f"  precision: {o.summary.precision_examples} example(s) within budget "
                    "but not bit for bit with any torch implementation"
                ]
                if o.summary.precision_examples
                else []
            ),
            *[f"  reported ({n.kind}): {divergence_line(n)}" for n in o.summary.notes],
            *(
                [
                    f"  edges:    {o.summary.edge_cases} edge values of the hyperparameters "
                    "(negative, ±0, 1, 2, nan, ±inf), one at a time"
                ]
                if o.summary.edge_cases
                else []
            ),
            f"  varied:   {', '.join(o.varied) or 'nothing'}",
            f"  pinned:   {pinned}",
        ]
    elif o.problem is None:
        lines.append(headline(o))
    else:
        p = o.problem
        lines.append(f"MISMATCH: {_verdict_line(o)}")
        dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in p.params})
        lines.append(f"  problem:  {p.describe()}")
        lines.append(f"  dtype {', '.join(dtypes)}, device {o.device}")
        for j, h in enumerate(p.hyper):
            lines.append(f"  group {j}:  {hyper_code(h)} (params {list(p.groups[j])})")
        for k, changes in p.schedule.items():
            lines.append(f"  before step {k + 1}: set {', '.join(hyper_code(c) for c in changes)}")
        if o.finding is not None:
            d = o.finding
            note = _nonfinite_note(d.target_value, d.reference_value)
            if note:
                lines.append(f"  note:     {note}")
            if isinstance(d.target_value, BaseException) or isinstance(
                d.reference_value, BaseException
            ):
                t_err, r_err = d.target_value, d.reference_value
                lines.append(f"    target: {one_line(t_err) if t_err else 'no exception'}")
                lines.append(f"    torch:  {one_line(r_err) if r_err else 'no exception'}")
            elif d.target_value is not None or d.reference_value is not None:
                lines += _side_by_side(d.target_value, d.reference_value, d.oracle_value)
        found = (
            f"found after {o.found_after} examples" if o.found_after else "found"
        ) + f", seed {o.seed}, {o.seconds:.1f} s"
        if o.shrink_runs:
            found += f"; shrunk in {o.shrink_runs} runs"
        lines.append(f"  {found}")
        lines.append(f"  varied:   {', '.join(o.varied) or 'nothing'}; pinned: {pinned}")
        lines.append(f"  rerun:    {rerun_command(o)}")
    if o.not_varied:
        lines.append(
            f"  not varied ({o.target.name} does not take them; torch keeps its defaults): "
            + ", ".join(o.not_varied)
        )
    for note in o.layout.notes:
        lines.append(f"  state layout: {note}")
    for note in o.notes:
        lines.append(f"  note: {note}")
    if snippet is not None:
        lines += [
            "",
            "Reproduce it (needs optverify, torch and the target's own imports; --repro FILE",
            "writes it): save the lines between the markers as repro.py, run `python repro.py`.",
            "# ---- 8< ----",
            snippet.rstrip(),
            "# ---- 8< ----",
        ]
    return "\n".join(lines)


def _jsonable(v: Any) -> Any:
    import torch

    if isinstance(v, torch.Tensor):
        return _jsonable(v.detach().cpu().tolist())
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    if isinstance(v, complex):
        return [_jsonable(v.real), _jsonable(v.imag)]
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, BaseException):
        return one_line(v)
    return repr(v)


def render_json(o: Outcome, snippet: str | None) -> dict[str, Any]:
    """The machine-readable report (one JSON object)."""
    from optverify.properties.source import hyper_code

    verdict = "conforms" if o.conforms else ("mismatch" if o.problem else "interrupted")
    out: dict[str, Any] = {
        "verdict": verdict,
        "target": o.target.text,
        "class": o.target.name,
        "against": f"torch.optim.{o.spec.name}",
        "modes": list(o.modes),
        "device": o.device,
        "dtypes": list(o.dtypes),
        "seed": o.seed,
        "examples": o.examples,
        "edge_cases": o.summary.edge_cases if o.summary else None,
        "seconds": round(o.seconds, 3),
        "varied": o.varied,
        "pinned": _jsonable(o.pins),
        "not_varied": o.not_varied,
        "state_layout": o.layout.as_json(),
        "notes": o.notes,
        "precision_examples": o.summary.precision_examples if o.summary else None,
        "reported": [
            {"class": n.kind, "summary": divergence_line(n)}
            for n in (o.summary.notes if o.summary else ())
        ],
        "counterexample": None,
        "repro": snippet,
        "summary": headline(o),
    }
    if o.problem is not None:
        p = o.problem
        ce: dict[str, Any] = {
            "reference": _reference_call(o.spec, o.mode),
            "mode": o.mode,
            "found_after": o.found_after,
            "shrink_runs": o.shrink_runs,
            "params": [
                {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
                for t in p.params
            ],
            "device": o.device,
            "groups": [list(g) for g in p.groups],
            "hyperparameters": [_jsonable(h) for h in p.hyper],
            "hyperparameters_code": [hyper_code(h) for h in p.hyper],
            "schedule": {str(k + 1): [hyper_code(c) for c in v] for k, v in p.schedule.items()},
            "steps": p.n_steps,
            "reload_before_step": None if p.reload_at is None else p.reload_at + 1,
            "problem": p.describe(),
            "rerun": rerun_command(o),
        }
        if o.hung is not None:
            ce.update(
                what="timeout",
                step=None if o.hung.step is None else o.hung.step + 1,
                detail=f"did not finish within {o.hung.seconds:g} s",
                hung_at=o.hung.where,
            )
        elif o.finding is not None:
            d = o.finding
            ce.update(
                **{"class": d.kind},
                what=d.what,
                step=None if d.step < 0 else d.step + 1,
                param=d.param,
                state_key=d.key,
                detail=d.detail,
                max_abs_err=_jsonable(d.max_abs),
                max_rel_err=_jsonable(d.max_rel),
                target_ulps=_jsonable(d.target_ulps),
                torch_ulps=_jsonable(d.torch_ulps),
                budget_ulps=_jsonable(d.budget_ulps),
                cause=d.cause,
                target_value=_jsonable(d.target_value),
                torch_value=_jsonable(d.reference_value),
                exact_value=_jsonable(d.oracle_value),
            )
        out["counterexample"] = ce
    return out
