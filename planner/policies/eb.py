"""Entropy-bounded unmasking: the EB-sampler (Ben-Hamu et al. 2025, "Accelerated Sampling from
Masked Diffusion Models via Entropy Bounded Unmasking", arXiv:2505.24857).

Sort the masked positions by an error proxy, most certain first (`proxy`: "entropy" sorts by
H(p_i) ascending, the default; "confidence" by 1 - p_i(v1) ascending; "margin" by
p_i(v1) - p_i(v2) descending). Budget: the largest prefix U of that order (at least one) with

    sum_{i in U} H(p_i) - max_{i in U} H(p_i) <= gamma,

H in nats. The left side never decreases as U grows, so "largest prefix" is well defined.
gamma = 0 unmasks one position per step, together with any whose entropy is exactly zero (they
add nothing to the sum); gamma = inf unmasks everything at once. The paper sweeps
gamma over {0.001, 0.01, 0.1, 1}; the default 0.01 is the middle of its useful range.
`block_length` runs the rule inside semi-AR blocks of the generated region (None: one block,
as PC-sampler's `generate_with_eb_sampler`). Entropies are float64; ties in the order go to
the lowest position (the reference's `torch.argsort` is not stable).

Temperature annealing (diffusers' EntropyBoundScheduler, `t_max`, `t_min`, `anneal_steps` N):
at the row's step i the logits are divided by t_min + (t_max - t_min) (N - i) / N (i capped at
N - 1), and the entropies, the order and the drawn tokens are those of the divided logits
(tokens at temperature 1 on them when the loop samples; greedy stays greedy). Off by default;
diffusers' defaults are t_max 0.8, t_min 0.4, N 32.
"""
from __future__ import annotations

import math

import torch

from dataclasses import replace

from ..context import StepContext
from ..policy import Budget, ScoredPolicy, Selection
from ..scores import Confidence, Margin, NegEntropy

PROXIES = {"entropy": NegEntropy, "confidence": Confidence, "margin": Margin}


class EntropyBudget(Budget):
    def __init__(self, gamma: float):
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or math.isnan(gamma) or gamma < 0:
            raise ValueError(f"gamma must be a number >= 0 (nats), got {gamma!r}")
        self.gamma = float(gamma)

    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        length = ranked.shape[1]
        n = torch.arange(1, length + 1, device=ranked.device)
        valid = n <= ctx.n_masked[:, None]                        # the masked positions come first
        h = torch.where(valid, ctx.entropy.gather(1, ranked).double(), 0.0)
        excess = h.cumsum(-1) - h.cummax(-1).values
        return ((excess <= self.gamma) & valid).mul(n).max(-1).values

    def __repr__(self) -> str:
        return f"EntropyBudget(gamma={self.gamma})"


def check_annealing(t_max, t_min, anneal_steps) -> None:
    given = [v is not None for v in (t_max, t_min, anneal_steps)]
    if any(given) and not all(given):
        raise ValueError(f"temperature annealing needs t_max, t_min and anneal_steps together, got "
                         f"t_max={t_max!r}, t_min={t_min!r}, anneal_steps={anneal_steps!r}")
    if not any(given):
        return
    for name, value in (("t_max", t_max), ("t_min", t_min)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if isinstance(anneal_steps, bool) or not isinstance(anneal_steps, int) or anneal_steps < 1:
        raise ValueError(f"anneal_steps must be a positive integer, got {anneal_steps!r}")


class EBSampler(ScoredPolicy):
    def __init__(self, gamma: float = 0.01, proxy: str = "entropy", block_length: int | None = None,
                 t_max: float | None = None, t_min: float | None = None,
                 anneal_steps: int | None = None):
        if proxy not in PROXIES:
            raise ValueError(f"proxy must be one of {sorted(PROXIES)}, got {proxy!r}")
        check_annealing(t_max, t_min, anneal_steps)
        self.proxy = proxy
        self.t_max, self.t_min, self.anneal_steps = t_max, t_min, anneal_steps
        super().__init__(PROXIES[proxy](), EntropyBudget(gamma), block_length=block_length)

    def annealed(self, ctx: StepContext) -> StepContext:
        """The step's logits divided by the annealed temperature of each row (its own draw)."""
        n = self.anneal_steps
        i = ctx.step.clamp(max=n - 1).double()
        temperature = self.t_min + (self.t_max - self.t_min) * (n - i) / n
        logits = (ctx.logits.double() / temperature[:, None, None]).float()
        return replace(ctx, logits=logits, temperature=1.0 if ctx.temperature > 0 else 0.0, extras={})

    def select(self, ctx: StepContext, state=None) -> Selection:
        if self.anneal_steps is None:
            return super().select(ctx, state)
        view = self.annealed(ctx)
        selection = super().select(view, state)
        selection.tokens = view.drawn
        return selection
