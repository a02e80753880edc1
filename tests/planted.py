"""Deliberately broken optimisers: each carries one realistic bug, and the properties must
reject every one of them (``tests/test_self_check.py``). ``REORDERED`` holds correct but
reordered implementations that the faithful mode must accept.

Each bug is our correct functional core with one change, so the diff *is* the bug.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from optverify import optimizers
from optverify.optimizers import adagrad, adam, rmsprop, sgd

# --------------------------------------------------------------------------------------------
# Adam family


def _adam_variant(
    *,
    eps_inside_sqrt: bool = False,
    bias_shift: int = 0,
    decay_after_moments: bool = False,
    step_dtype: torch.dtype | None = None,
    reordered: bool = False,
):  # type: ignore[no-untyped-def]
    def step(param: Tensor, grad: Tensor, state: adam.AdamState, cfg: adam.AdamConfig):  # type: ignore[no-untyped-def]
        if reordered and param.is_complex():
            # torch.optim.Adam adds L2 decay in complex arithmetic (a complex product spreads a
            # NaN from one component to the other), then views complex as pairs of reals
            g = -grad if cfg.maximize else grad
            if cfg.weight_decay != 0 and not cfg.decoupled_weight_decay:
                g = g.add(param, alpha=cfg.weight_decay)
            real = [torch.view_as_real(t) if t is not None else None for t in state[1:]]
            coupled = 0.0 if not cfg.decoupled_weight_decay else cfg.weight_decay
            flat = dataclasses.replace(cfg, maximize=False, weight_decay=coupled)
            new_param, new = step(
                torch.view_as_real(param), torch.view_as_real(g),
                adam.AdamState(state.step, *real), flat,
            )  # fmt: skip
            parts = [torch.view_as_complex(t) if t is not None else None for t in new[1:]]
            return torch.view_as_complex(new_param), adam.AdamState(new.step, *parts)
        step_t = state.step + 1
        if step_dtype is not None:
            step_t = step_t.to(step_dtype)
        g = -grad if cfg.maximize else grad
        if cfg.weight_decay != 0 and cfg.decoupled_weight_decay:
            param = param.clone().mul_(1 - cfg.lr * cfg.weight_decay)
        elif cfg.weight_decay != 0 and not decay_after_moments:
            g = g.add(param, alpha=cfg.weight_decay)
        if reordered:  # the textbook order: beta m + (1 - beta) g, (v / bc2)^(1/2), lr/bc1 * m/d
            # the EMA as torch's lerp: after an infinite gradient with beta1 = 0 the textbook
            # beta m + (1 - beta) g gives inf where torch gives NaN (a non-finite kind finding)
            m = state.exp_avg.lerp(g, 1 - cfg.beta1)
            # g·g scaled as torch's addcmul does (in float opmath): squaring first overflows
            # float16 for |g| > 256 where torch stays finite (an overflow finding)
            v = torch.addcmul(state.exp_avg_sq * cfg.beta2, g, g.conj(), value=1 - cfg.beta2)
        else:
            m = state.exp_avg.lerp(g, 1 - cfg.beta1)
            v = state.exp_avg_sq.clone().mul_(cfg.beta2).addcmul_(g, g, value=1 - cfg.beta2)
        t = step_t.item() + bias_shift
        bc1, bc2 = 1 - cfg.beta1**t, 1 - cfg.beta2**t
        max_sq = state.max_exp_avg_sq
        v_used = v
        if max_sq is not None:
            max_sq = torch.maximum(max_sq, v)
            v_used = max_sq
        if eps_inside_sqrt:
            denom = (v_used / bc2 + cfg.eps).sqrt()
        elif reordered:  # the root of v-hat as sqrt(v)/sqrt(bc2): v/bc2 overflows first
            denom = v_used.sqrt() / bc2**0.5 + cfg.eps
        else:
            denom = (v_used.sqrt() / bc2**0.5).add(cfg.eps)
        if reordered and param.dtype in (torch.float16, torch.bfloat16):
            # half precision in float32 opmath, as any careful implementation: in float16
            # m / d alone overflows (|m| 0.2, d = ε = 1e-6) and lr = 0 then makes it NaN
            step_dir = m.float() / denom.float()
            param = (param.float() - (cfg.lr / bc1) * step_dir).to(param.dtype)
        elif reordered:
            param = param - (cfg.lr / bc1) * (m / denom)
        else:
            param = param.addcdiv(m, denom, value=-cfg.lr / bc1)
        if decay_after_moments and cfg.weight_decay != 0 and not cfg.decoupled_weight_decay:
            param = param.add(param, alpha=-cfg.lr * cfg.weight_decay)
        if step_dtype is not None:
            step_t = step_t.to(state.step.dtype)
        return param, adam.AdamState(step_t, m, v, max_sq)

    return step


class AdamEpsInsideSqrt(optimizers.Adam):
    """ε inside the square root: √(v̂ + ε) instead of √v̂ + ε."""

    step_param = _adam_variant(eps_inside_sqrt=True)


class AdamBiasOffByOne(optimizers.Adam):
    """Bias corrections use t + 1 (counted from the wrong end)."""

    step_param = _adam_variant(bias_shift=1)


class AdamDecayAfterMoments(optimizers.Adam):
    """Coupled weight decay applied to θ after the moment update, not to g before it."""

    step_param = _adam_variant(decay_after_moments=True)


class AdamBf16Step(optimizers.Adam):
    """The step counter kept in bfloat16: exact to 256, then it stalls (torch uses float32)."""

    step_param = _adam_variant(step_dtype=torch.bfloat16)


class AdamReordered(optimizers.Adam):
    """Correct Adam in the textbook operation order: the faithful mode must accept it."""

    step_param = _adam_variant(reordered=True)


# --------------------------------------------------------------------------------------------
# SGD


def _sgd_variant(
    *, dampen_first: bool = False, nesterov_old_buffer: bool = False,
    maximize_ignored_with_momentum: bool = False, reordered: bool = False,
):  # type: ignore[no-untyped-def]  # fmt: skip
    def step(param: Tensor, grad: Tensor, state: sgd.SGDState, cfg: sgd.SGDConfig):  # type: ignore[no-untyped-def]
        flip = cfg.maximize and not (maximize_ignored_with_momentum and cfg.momentum != 0)
        g = -grad if flip else grad
        if cfg.weight_decay != 0:
            g = g + cfg.weight_decay * param if reordered else g.add(param, alpha=cfg.weight_decay)
        buf = state.momentum_buffer
        if cfg.momentum != 0:
            previous = buf
            if buf is None:
                buf = g.clone() * (1 - cfg.dampening) if dampen_first else g.clone()
            else:
                buf = buf * cfg.momentum + (1 - cfg.dampening) * g if reordered else \
                    buf.mul(cfg.momentum).add(g, alpha=1 - cfg.dampening)  # fmt: skip
            if cfg.nesterov:
                ahead = previous if (nesterov_old_buffer and previous is not None) else buf
                g = g + cfg.momentum * ahead if reordered else g.add(ahead, alpha=cfg.momentum)
            else:
                g = buf
        param = param - cfg.lr * g if reordered else param.add(g, alpha=-cfg.lr)
        return param, sgd.SGDState(buf)

    return step


class SGDDampenedFirstStep(optimizers.SGD):
    """Dampening applied on the first momentum step (torch copies g unscaled)."""

    step_param = _sgd_variant(dampen_first=True)


class SGDNesterovOldBuffer(optimizers.SGD):
    """Nesterov look-ahead with the previous buffer b_{t-1} instead of b_t."""

    step_param = _sgd_variant(nesterov_old_buffer=True)


class SGDMaximizeIgnoredWithMomentum(optimizers.SGD):
    """``maximize`` honoured only when momentum is 0."""

    step_param = _sgd_variant(maximize_ignored_with_momentum=True)


class SGDReordered(optimizers.SGD):
    """Correct SGD written with operators instead of fused alpha= ops: must be accepted."""

    step_param = _sgd_variant(reordered=True)


# --------------------------------------------------------------------------------------------
# Shell-level bugs (state handling, param groups)


class AdamNoneGradTouchesState(optimizers.Adam):
    """A parameter with no gradient still gets its step counter advanced."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if p.grad is None and state:
                    state["step"] = state["step"] + 1
        return super().step(closure)


class AdamStateNotRestored(optimizers.Adam):
    """Keeps its moments in a private cache that ``load_state_dict`` does not restore."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cache: dict[int, adam.AdamState] = {}

    def _load_state(self, p: Tensor) -> Any:
        return self._cache.get(id(p)) or super()._load_state(p)

    def _store_state(self, p: Tensor, new_state: Any) -> None:
        self._cache[id(p)] = new_state
        super()._store_state(p, new_state)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        # the bug: a fresh optimiser's cache stays empty, so it restarts from zero moments
        for p in self.state:
            self._cache[id(p)] = adam.init(
                p, None, adam.AdamConfig.from_group(self.param_groups[0])
            )


class SGDSecondGroupIgnored(optimizers.SGD):
    """Every group is stepped with the first group's hyperparameters."""

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        first = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        saved = [dict(g) for g in self.param_groups]
        for g in self.param_groups:
            g.update(first)
        try:
            return super().step(closure)
        finally:
            for g, old in zip(self.param_groups, saved, strict=True):
                g.update({k: v for k, v in old.items() if k != "params"})


class RMSpropCenteredWithoutMean(optimizers.RMSprop):
    """Centered RMSprop that keeps ḡ but forgets to subtract ḡ² from v."""

    @staticmethod
    def step_param(param: Tensor, grad: Tensor, state: Any, cfg: Any) -> tuple[Tensor, Any]:
        if not cfg.centered:
            return rmsprop.step(param, grad, state, cfg)
        new_param, new_state = rmsprop.step(param, grad, state, replace(cfg, centered=False))
        return new_param, new_state._replace(grad_avg=state.grad_avg.lerp(grad, 1 - cfg.alpha))


class AdagradLrDecayOffByOne(optimizers.Adagrad):
    """Adagrad decays the learning rate by t·η instead of (t − 1)·η."""

    @staticmethod
    def step_param(param: Tensor, grad: Tensor, state: Any, cfg: Any) -> tuple[Tensor, Any]:
        ahead = state._replace(step=state.step + 1)
        new_param, new_state = adagrad.step(param, grad, ahead, cfg)
        return new_param, new_state._replace(step=new_state.step - 1)


#: bug class -> the torch optimiser it claims to be
PLANTED: dict[type, str] = {
    AdamEpsInsideSqrt: "Adam",
    AdamBiasOffByOne: "Adam",
    AdamDecayAfterMoments: "Adam",
    AdamBf16Step: "Adam",
    SGDDampenedFirstStep: "SGD",
    SGDNesterovOldBuffer: "SGD",
    SGDMaximizeIgnoredWithMomentum: "SGD",
    AdamNoneGradTouchesState: "Adam",
    AdamStateNotRestored: "Adam",
    SGDSecondGroupIgnored: "SGD",
    RMSpropCenteredWithoutMean: "RMSprop",
    AdagradLrDecayOffByOne: "Adagrad",
}

#: correct implementations in another operation order -> the torch optimiser they implement
REORDERED: dict[type, str] = {AdamReordered: "Adam", SGDReordered: "SGD"}
