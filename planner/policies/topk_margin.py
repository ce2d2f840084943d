"""Top-k margin (Kim et al. 2025, "Train for the Worst, Plan for the Best", arXiv:2502.06768).

Score: the margin p_i(v1) - p_i(v2) between the denoiser's two most likely tokens. Budget: `k`
per step from the step schedule (`planner.budgets.StepSchedule`), the `k` masked positions with
the largest margin are unmasked.
schedule="dream" with `eps` is Dream's step schedule (`planner.budgets.StepSchedule`; steps
may unmask nothing). alg_temp (Dream's): None or 0 takes the top k; > 0 draws the k positions
without replacement from softmax(score / alg_temp) (`planner.ranking.rank`).
distribution="sampling" with top_p / top_k is Dream's: the score is computed on, and the token
drawn from, softmax(filter(logits / temperature)); "model" (the default, LLaDA's) ranks on the
denoiser's p. Identical when greedy and unfiltered.
"""
from __future__ import annotations

from ..budgets import StepSchedule
from ..policy import ScoredPolicy
from ..scores import Margin


class TopKMargin(ScoredPolicy):
    def __init__(self, steps: int | None = None, schedule: str = "even", eps: float = 1e-3,
                 alg_temp: float | None = None, distribution: str = "model",
                 top_p: float | None = None, top_k: int | None = None):
        super().__init__(Margin(), StepSchedule(steps, schedule, eps), alg_temp=alg_temp,
                         distribution=distribution, top_p=top_p, top_k=top_k)
