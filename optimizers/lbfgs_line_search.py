r"""The strong-Wolfe line search of :class:`optimizers.lbfgs.LBFGS`, with its cubic interpolation.

Written to agree bit-for-bit with torch's (torch 2.13: ``torch/optim/lbfgs.py:12-203``, the
line search and its two-point cubic interpolation): same trial steps, same closure calls.
:func:`strong_wolfe` finds a step satisfying the strong Wolfe conditions by bracketing and
zooming; :func:`cubic_interpolate` gives each trial. Numbers keep torch's Python/tensor types
(see the note in :mod:`optimizers.lbfgs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["Num", "cubic_interpolate", "strong_wolfe"]

#: a quantity torch keeps either as a Python number or as a 0-d tensor
Num = Any


def cubic_interpolate(
    x1: Num,
    f1: Num,
    g1: Num,
    x2: Num,
    f2: Num,
    g2: Num,
    bounds: tuple[Num, Num] | None = None,
) -> Num:
    r"""Minimiser of the cubic through :math:`(x_1, f_1, f'_1 = g_1)` and :math:`(x_2, f_2, g_2)`.

    .. math::

       \begin{aligned}
       \delta_1 &= g_1 + g_2 - 3(f_1 - f_2)/(x_1 - x_2), \qquad
       \delta_2 = \sqrt{\delta_1^2 - g_1 g_2}                                         \\
       x^\star  &= x_2 - (x_2 - x_1)\,\frac{g_2 + \delta_2 - \delta_1}{g_2 - g_1 + 2\delta_2}
                   \quad (x_1 \le x_2; \text{ the roles of 1 and 2 swap otherwise})     \\
       \text{result} &= \min(\max(x^\star, \ell), u) \text{ if } \delta_1^2 - g_1 g_2 \ge 0,
                   \text{ else } (\ell + u)/2
       \end{aligned}

    with :math:`[\ell, u]` = ``bounds``, or the interval spanned by :math:`x_1, x_2`. (A port of
    minFunc/``polyinterp.lua``'s two-point case.)
    """
    if bounds is None:
        lower, upper = (x1, x2) if x1 <= x2 else (x2, x1)
    else:
        lower, upper = bounds
    delta1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)  # delta_1
    disc = delta1**2 - g1 * g2  # delta_1^2 - g_1 g_2
    if not disc >= 0:
        return (lower + upper) / 2.0
    delta2 = disc.sqrt()  # delta_2
    if x1 <= x2:
        x_star = x2 - (x2 - x1) * ((g2 + delta2 - delta1) / (g2 - g1 + 2 * delta2))
    else:
        x_star = x1 - (x1 - x2) * ((g1 + delta2 - delta1) / (g1 - g2 + 2 * delta2))
    return min(max(x_star, lower), upper)  # clamp to [l, u]


def strong_wolfe(
    obj_func: Callable[[Sequence[Tensor], Num, Tensor], tuple[float, Tensor]],
    x: Sequence[Tensor],
    t: Num,
    d: Tensor,
    f: float,
    g: Tensor,
    gtd: Tensor,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, Tensor, Num, int]:
    r"""A step :math:`t` along :math:`d` satisfying the strong Wolfe conditions.

    With :math:`\phi(t) = f(x + t d)`, :math:`\phi'(t) = \nabla f(x + td)^\top d`,
    :math:`\phi(0) = f`, :math:`\phi'(0) = ` ``gtd`` :math:`< 0`, the conditions are

    .. math::

       \phi(t) \le \phi(0) + c_1 t\, \phi'(0) \ \text{(Armijo)}, \qquad
       \lvert\phi'(t)\rvert \le -c_2\, \phi'(0) \ \text{(curvature)}.

    *Bracketing*: from :math:`t_{\text{prev}} = 0`, evaluate :math:`\phi(t)`; a bracket
    :math:`[t_{\text{prev}}, t]` is found when Armijo fails, when :math:`\phi` stops
    decreasing (from the third trial on), or when :math:`\phi'(t) \ge 0`; :math:`t` is accepted
    outright when the curvature condition holds; otherwise the next trial is the cubic
    minimiser on :math:`[t + 0.01(t - t_{\text{prev}}),\ 10t]`. *Zoom*: the cubic minimiser
    of the bracket ends, moved to :math:`0.1\,|\text{bracket}|` inside it when it falls within
    that distance of an end twice running (or onto an end); a trial that fails Armijo or is
    not below the low end replaces the high end, otherwise it becomes the low end (the old
    low end becoming the high end when :math:`\phi'(t)(t_{\text{high}} - t_{\text{low}}) \ge
    0`), until the conditions hold, the bracket is shorter than ``tolerance_change`` (in
    :math:`\lVert d\rVert_\infty` units) or ``max_ls`` evaluations have been spent. Returns
    :math:`(\phi, \nabla f, t)` at the low end and the number of evaluations. ``obj_func(x, t,
    d)`` evaluates at :math:`x + t d` and must leave :math:`x` as it found it. (A port of
    minFunc/``lswolfe.lua``.)
    """
    d_norm = d.abs().max()  # ||d||_inf
    g = g.clone(memory_format=torch.contiguous_format)
    f_new, g_new = obj_func(x, t, d)  # phi(t), grad at x + t d
    evals = 1
    gtd_new = g_new.dot(d)  # phi'(t)

    # Bracketing phase: [t_prev, t] with phi, gradient and phi' at both ends.
    t_prev: Num = 0
    f_prev, g_prev, gtd_prev = f, g, gtd
    done = False
    trials = 0
    while trials < max_ls:
        armijo_fails = f_new > (f + c1 * t * gtd)
        if armijo_fails or (trials > 1 and f_new >= f_prev):
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.clone(memory_format=torch.contiguous_format)]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:  # strong Wolfe holds at t
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:  # phi turned upwards: a minimiser lies in [t_prev, t]
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new.clone(memory_format=torch.contiguous_format)]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # extrapolate: cubic minimiser in [t + 0.01 (t - t_prev), 10 t]
        lower = t + 0.01 * (t - t_prev)
        upper = t * 10
        t_next = cubic_interpolate(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, (lower, upper))
        t_prev, f_prev, gtd_prev = t, f_new, gtd_new
        g_prev = g_new.clone(memory_format=torch.contiguous_format)
        t = t_next
        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        trials += 1

    if trials == max_ls:  # budget spent while bracketing
        bracket = [0, t]
        bracket_f = [f, f_new]
        bracket_g = [g, g_new]

    # Zoom phase: shrink the bracket around a point satisfying the conditions.
    insufficient = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and trials < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:  # bracket too small
            break
        t = cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # keep the trial at least 0.1 |bracket| away from its ends
        margin = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < margin:
            if insufficient or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - margin
                else:
                    t = min(bracket) + margin
                insufficient = False
            else:
                insufficient = True
        else:
            insufficient = False

        f_new, g_new = obj_func(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        trials += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            # Armijo fails or no lower than the low end: t is the new high end
            bracket[high], bracket_f[high], bracket_gtd[high] = t, f_new, gtd_new
            bracket_g[high] = g_new.clone(memory_format=torch.contiguous_format)
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True  # strong Wolfe holds at t
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                # the old low end becomes the high end
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            # t is the new low end
            bracket[low], bracket_f[low], bracket_gtd[low] = t, f_new, gtd_new
            bracket_g[low] = g_new.clone(memory_format=torch.contiguous_format)

    return bracket_f[low], bracket_g[low], bracket[low], evals
