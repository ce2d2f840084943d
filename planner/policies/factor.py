"""Factor rule: Fast-dLLM's factor-based parallel decoding (Wu et al. 2025, arXiv:2505.22618).

Score: the confidence c_i (float64; `confidence="sampled"`, the default, is the probability
of the token this step writes, as Fast-dLLM's `get_transfer_index_dynamic` computes it).
Sort the masked positions by confidence, descending, c(1) >= c(2) >= ... >= c(N). Budget: the
largest n with

    c(n) >= 1 - f / (n + 1)        (i.e. (n + 1)(1 - c(n)) <= f),

and at least 1, in the form and float64 arithmetic of Fast-dLLM's code (equality kept). The
threshold rises with n and c(n) falls, so the positions taken are the top n. One documented
difference: Fast-dLLM's code also takes the last position whenever the first failure is at the
last masked position (`top_i == len(threshs) - 1`); the project follows the stated rule.
`block_length` runs the rule inside semi-AR blocks of the generated region. Fast-dLLM tests f
in [0.5, 1].

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
    """score: "confidence" (c(n) above) or "margin" (m(n) in its place): the policy's score,
    which the budget reads from `scores`."""

    def __init__(self, f: float, score: str = "confidence"):
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not f > 0 or f == float("inf"):
            raise ValueError(f"f must be a finite number > 0, got {f!r}")
        check_factor_score(score)
        self.f, self.score = float(f), score

    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        length = ranked.shape[1]
        c = scores.gather(1, ranked).double()                     # c(1), c(2), ... then unmasked
        n = torch.arange(1, length + 1, device=ranked.device)
        threshold = 1.0 - self.f / (n + 1).double()
        holds = (c >= threshold) & (n <= ctx.n_masked[:, None])
        return (holds * n).max(-1).values                         # 0 if none; the caller makes it 1

    def __repr__(self) -> str:
        return f"FactorBudget(f={self.f}, score={self.score!r})"


class FactorRule(ScoredPolicy):
    def __init__(self, f: float = 1.0, block_length: int | None = None, confidence: str = "sampled"):
        super().__init__(Confidence(confidence), FactorBudget(f), block_length=block_length)
