"""Factor rule: Fast-dLLM's factor-based parallel decoding (Wu et al. 2025, arXiv:2505.22618).

Score: the confidence c_i = p_i(v1). Sort the masked positions by confidence, descending,
c(1) >= c(2) >= ... >= c(N). Budget: the largest n with

    (n + 1) * (1 - c(n)) < f,

and at least 1. The left side never decreases with n (both factors are non-negative and
non-decreasing), so the positions taken are the top n. Fast-dLLM tests f in [0.5, 1].

The budget also serves `factor_margin`, the same rule on the margin (`FactorBudget(f, "margin")`).
"""
from __future__ import annotations

import torch

from ..context import StepContext
from ..policy import Budget, ScoredPolicy
from ..scores import Confidence

# What the rule can rank and test: a property of StepContext (and of the planner's
# vi.features.DenoiserSummary, whose factor inputs can be either).
FACTOR_SCORES = ("confidence", "margin")


def check_factor_score(score, name: str = "score") -> None:
    """Refuse a `score` (passed as `name`) that is not one of FACTOR_SCORES."""
    if score not in FACTOR_SCORES:
        raise ValueError(f"{name} must be one of {list(FACTOR_SCORES)}, got {score!r}")


class FactorBudget(Budget):
    """score: "confidence" (c(n) above) or "margin" (m(n) in its place)."""

    def __init__(self, f: float, score: str = "confidence"):
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not f > 0 or f == float("inf"):
            raise ValueError(f"f must be a finite number > 0, got {f!r}")
        check_factor_score(score)
        self.f, self.score = float(f), score

    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        length = ranked.shape[1]
        c = getattr(ctx, self.score).gather(1, ranked).double()  # c(1), c(2), ... then unmasked
        n = torch.arange(1, length + 1, device=ranked.device)
        holds = ((n + 1) * (1.0 - c) < self.f) & (n <= ctx.n_masked[:, None])
        return (holds * n).max(-1).values                         # 0 if none; the caller makes it 1

    def __repr__(self) -> str:
        return f"FactorBudget(f={self.f}, score={self.score!r})"


class FactorRule(ScoredPolicy):
    def __init__(self, f: float = 1.0):
        super().__init__(Confidence(), FactorBudget(f))
