r"""L-BFGS with an optional strong-Wolfe line search (cubic interpolation).

Written to agree bit-for-bit with ``torch.optim.LBFGS`` (torch 2.13: constructor
``torch/optim/lbfgs.py:240-274``, flattening helpers ``lbfgs.py:276-323``, the step
``lbfgs.py:325-530``, the line search ``lbfgs.py:12-203``): same iterates, same closure calls.
All parameters are seen as one flat vector :math:`x` (complex parameters as real pairs);
:math:`g_k` is its flattened gradient, :math:`f_k` the loss as a Python float. Symbols:
:math:`\gamma` lr, :math:`m` history_size, :math:`\tau_g` tolerance_grad, :math:`\tau_f`
tolerance_change, :math:`k` counts iterations over all ``step`` calls (``n_iter``).

One call of ``step(closure)`` evaluates :math:`f, g` at the current :math:`x` (stopping at
once if :math:`\lVert g\rVert_\infty \le \tau_g`), then runs at most ``max_iter`` iterations:

.. math::

   \begin{aligned}
   d_1      &\leftarrow -g_1, \qquad H_1 \leftarrow 1, \qquad \text{memory} \leftarrow \varnothing
              && (k = 1)                                                                     \\
   y        &\leftarrow g_k - g_{k-1}, \qquad s \leftarrow d_{k-1}\, t_{k-1}, \qquad
              \rho^{-1} \leftarrow y^\top s                                   && (k > 1)      \\
            &\text{if } y^\top s > 10^{-10}:\ \text{append } (y, s, 1/(y^\top s))
              \text{ (dropping the oldest when } m \text{ are kept)},\
              H_k \leftarrow y^\top s \,/\, y^\top y                                          \\
   d_k      &\leftarrow \operatorname{TwoLoop}(g_k;\ \text{memory},\ H_k)          && (k > 1)  \\
   t_k      &\leftarrow \min\big(1,\ 1/\lVert g_1\rVert_1\big)\,\gamma \ (k = 1),
              \qquad t_k \leftarrow \gamma \ (k > 1)                                          \\
            &\text{stop if } g_k^\top d_k > -\tau_f                                           \\
   x        &\leftarrow x + t_k d_k \quad\text{with } t_k \text{ from }
              \operatorname{StrongWolfe} \text{ (which also returns } f, g\text{) or fixed;}   \\
            &\text{without a line search, re-evaluate } f, g
              \text{ unless this is the last iteration}                                       \\
            &\text{stop if: last iteration; evaluations} \ge \texttt{max\_eval};\
              \lVert g\rVert_\infty \le \tau_g;\ \lVert t_k d_k\rVert_\infty \le \tau_f;\
              \lvert f - f_{\text{prev}}\rvert < \tau_f
   \end{aligned}

:func:`two_loop_direction` and :func:`strong_wolfe` (with :func:`cubic_interpolate`) give the
maths of the two sub-steps. ``step`` returns the *first* closure value of the call.

.. note::
   torch mixes Python floats and 0-d tensors: :math:`f` is a float,
   while :math:`g^\top d`, :math:`\rho`, :math:`H_k` (after the first pair) and often
   :math:`t_k` are 0-d tensors of the parameter dtype (:math:`t_1 = \min(1, 1/\lVert
   g_1\rVert_1)` is a tensor when :math:`\lVert g_1\rVert_1 > 1`, and the line search returns
   whatever type its bracket holds). Arithmetic between them is float32 for float32
   parameters. We keep every expression's operand types and association so the rounding
   agrees; the stored ``t``, ``H_diag`` and ``prev_loss`` have the same Python/tensor types
   as torch's. The global state lives in ``state[first param]`` (so ``load_state_dict``
   casts it), including ``al``, the scratch list of the two-loop coefficients, of length
   ``history_size`` at its creation: lowering ``history_size`` between calls lets the memory
   outgrow ``al`` (torch only drops the oldest pair when the lengths are *equal*), and the
   two-loop recursion then raises ``IndexError``, here as in torch. ``max_eval`` below the
   evaluations already spent makes the line search fail with ``UnboundLocalError``, as in
   torch. The fixed-step path takes the full step :math:`t_k`
   with no safeguard. Sparse gradients are densified, a missing gradient counts as zeros.
   Only one parameter group is allowed; the line search's evaluation budget is
   ``max_eval`` minus the evaluations already spent in this call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer
from torch.optim.optimizer import ParamsT

from optverify.optimizers._shell import to_scalar
from optverify.optimizers.lbfgs_line_search import Num, cubic_interpolate, strong_wolfe

__all__ = ["LBFGS", "cubic_interpolate", "strong_wolfe", "two_loop_direction"]


def two_loop_direction(
    grad: Tensor,
    old_dirs: Sequence[Tensor],
    old_stps: Sequence[Tensor],
    ro: Sequence[Tensor],
    h_diag: Num,
    al: Sequence[Any],
) -> tuple[Tensor, list[Any]]:
    r"""The L-BFGS direction :math:`d = -H g` by the two-loop recursion.

    With curvature pairs :math:`(y_i, s_i)` (``old_dirs``, ``old_stps``) and
    :math:`\rho_i = 1/(y_i^\top s_i)` (``ro``), oldest first:

    .. math::

       \begin{aligned}
       q        &\leftarrow -g;\quad
                   \text{for } i = n-1, \dots, 0:\ \alpha_i \leftarrow (s_i^\top q)\,\rho_i,\ \
                   q \leftarrow q + (-\alpha_i)\, y_i                                     \\
       r        &\leftarrow q\, H_0;\quad
                   \text{for } i = 0, \dots, n-1:\ \beta_i \leftarrow (y_i^\top r)\,\rho_i,\ \
                   r \leftarrow r + (\alpha_i - \beta_i)\, s_i                            \\
       d        &= r
       \end{aligned}

    Returns :math:`d` and a copy of ``al`` (torch's scratch list, kept in the state) with
    :math:`\alpha_0, \dots, \alpha_{n-1}` written into its first :math:`n` slots. Pure.
    """
    alphas = list(al)
    q = grad.neg()  # q = -g
    for i in range(len(old_dirs) - 1, -1, -1):
        alphas[i] = old_stps[i].dot(q) * ro[i]  # alpha_i
        q = q.add(old_dirs[i], alpha=-alphas[i])  # q - alpha_i y_i
    r = torch.mul(q, h_diag)  # r = H_0 q
    for i in range(len(old_dirs)):
        beta = old_dirs[i].dot(r) * ro[i]  # beta_i
        r = r.add(old_stps[i], alpha=alphas[i] - beta)  # r + (alpha_i - beta_i) s_i
    return r, alphas


class LBFGS(Optimizer):
    """``torch.optim.LBFGS`` from scratch; same signature, defaults, validation and state."""

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params: list[Tensor] = self.param_groups[0]["params"]
        self._numel_cache: int | None = None

    # -- the parameters as one flat real vector x ------------------------------------------

    def _numel(self) -> int:
        if self._numel_cache is None:
            self._numel_cache = sum(
                2 * p.numel() if torch.is_complex(p) else p.numel() for p in self._params
            )
        return self._numel_cache

    def _gather_flat_grad(self) -> Tensor:
        """g: the gradients flattened and concatenated (zeros for a missing gradient)."""
        pieces = []
        for p in self._params:
            if p.grad is None:
                piece = torch.zeros(p.numel(), dtype=p.dtype, device=p.device)
            elif p.grad.is_sparse:
                piece = p.grad.to_dense().view(-1)
            else:
                piece = p.grad.view(-1)
            if torch.is_complex(piece):
                piece = torch.view_as_real(piece).view(-1)
            pieces.append(piece)
        return torch.cat(pieces, 0)

    def _add_grad(self, step_size: Num, update: Tensor) -> None:
        """x <- x + step_size * update, in place, parameter by parameter."""
        offset = 0
        for p in self._params:
            real = torch.view_as_real(p) if torch.is_complex(p) else p
            numel = real.numel()
            real.add_(update[offset : offset + numel].view_as(real), alpha=step_size)
            offset += numel
        if offset != self._numel():
            raise AssertionError(f"Expected offset {offset} to equal {self._numel()}")

    def _clone_param(self) -> list[Tensor]:
        return [p.clone(memory_format=torch.contiguous_format) for p in self._params]

    def _set_param(self, params_data: Sequence[Tensor]) -> None:
        for p, data in zip(self._params, params_data, strict=True):
            p.copy_(data)

    def _directional_evaluate(
        self, closure: Callable[[], Any], x: Sequence[Tensor], t: Num, d: Tensor
    ) -> tuple[float, Tensor]:
        """(f, g) at x + t d; the parameters are restored to ``x`` afterwards."""
        self._add_grad(t, d)
        loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # -- the step ----------------------------------------------------------------------------

    @torch.no_grad()
    def step(self, closure: Callable[[], Any]) -> Any:  # type: ignore[override]
        """Run up to ``max_iter`` L-BFGS iterations; ``closure`` re-evaluates the loss with grad.

        Returns the loss of the first closure call.
        """
        if len(self.param_groups) != 1:
            raise AssertionError(
                f"Expected exactly one param_group, but got {len(self.param_groups)}"
            )
        closure = torch.enable_grad()(closure)
        group = self.param_groups[0]
        lr = to_scalar(group["lr"])  # gamma
        max_iter = group["max_iter"]
        max_eval = group["max_eval"]
        tolerance_grad = group["tolerance_grad"]  # tau_g
        tolerance_change = group["tolerance_change"]  # tau_f
        line_search_fn = group["line_search_fn"]
        history_size = group["history_size"]  # m

        state = self.state[self._params[0]]  # the global state lives on the first param
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = float(orig_loss)  # f
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()  # g
        if flat_grad.abs().max() <= tolerance_grad:  # ||g||_inf <= tau_g
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")  # y_i
        old_stps = state.get("old_stps")  # s_i
        ro = state.get("ro")  # rho_i
        h_diag = state.get("H_diag")  # H_k
        prev_flat_grad = state.get("prev_flat_grad")  # g_{k-1}
        prev_loss = state.get("prev_loss")

        converged: Any = False  # ||g||_inf <= tau_g after the move
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # direction d_k
            if state["n_iter"] == 1:
                d = flat_grad.neg()  # d_1 = -g_1
                old_dirs, old_stps, ro = [], [], []
                h_diag = 1  # H_1
            else:
                y = flat_grad.sub(prev_flat_grad)  # y = g_k - g_{k-1}
                s = d.mul(t)  # s = t_{k-1} d_{k-1}
                ys = y.dot(s)  # y^T s
                if ys > 1e-10:
                    # the memory lists are the state's own, updated in place as torch does
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)  # rho = 1 / (y^T s)
                    h_diag = ys / y.dot(y)  # H_k = y^T s / y^T y
                if "al" not in state:
                    state["al"] = [None] * history_size
                d, state["al"] = two_loop_direction(
                    flat_grad, old_dirs, old_stps, ro, h_diag, state["al"]
                )  # d_k

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.clone(memory_format=torch.contiguous_format)
            else:  # torch copies into the stored tensor (keeping its dtype and device)
                prev_flat_grad.copy_(flat_grad)
            prev_loss = loss

            # step length t_k
            # t_1 = min(1, 1/||g_1||_1) gamma;  t_k = gamma
            t = min(1.0, 1.0 / flat_grad.abs().sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)  # g_k^T d_k
            if gtd > -tolerance_change:
                break

            evals = 0
            if line_search_fn is not None:
                if line_search_fn != "strong_wolfe":
                    raise RuntimeError("only 'strong_wolfe' is supported")
                x_init = self._clone_param()

                def obj_func(
                    x: Sequence[Tensor], step_size: Num, direction: Tensor
                ) -> tuple[float, Tensor]:
                    return self._directional_evaluate(closure, x, step_size, direction)

                loss, flat_grad, t, evals = strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)  # x <- x + t_k d_k
                converged = flat_grad.abs().max() <= tolerance_grad
            else:
                self._add_grad(t, d)  # x <- x + t_k d_k
                if n_iter != max_iter:  # no re-evaluation after the last iteration
                    with torch.enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    converged = flat_grad.abs().max() <= tolerance_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            # stopping tests
            if n_iter == max_iter:
                break
            if current_evals >= max_eval:
                break
            if converged:
                break
            if d.mul(t).abs().max() <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"] = d
        state["t"] = t
        state["old_dirs"] = old_dirs
        state["old_stps"] = old_stps
        state["ro"] = ro
        state["H_diag"] = h_diag
        state["prev_flat_grad"] = prev_flat_grad
        state["prev_loss"] = prev_loss
        return orig_loss
