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
"""
from __future__ import annotations

import math

import torch

from ..context import StepContext
from ..policy import Budget, ScoredPolicy
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


class EBSampler(ScoredPolicy):
    def __init__(self, gamma: float = 0.01, proxy: str = "entropy", block_length: int | None = None):
        if proxy not in PROXIES:
            raise ValueError(f"proxy must be one of {sorted(PROXIES)}, got {proxy!r}")
        self.proxy = proxy
        super().__init__(PROXIES[proxy](), EntropyBudget(gamma), block_length=block_length)
