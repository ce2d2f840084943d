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

from ..scores import Margin
from ..step_scored import StepScoredPolicy


class TopKMargin(StepScoredPolicy):
    score_type = Margin
