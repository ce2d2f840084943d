"""Lowest entropy first: Dream's `alg="entropy"` (Ye et al. 2025, arXiv:2508.15487).

Score: -H(p_i) = sum_v p_i(v) log p_i(v) (nats). Budget: `k` per step from the step schedule
(`planner.budgets.StepSchedule`), the `k` lowest-entropy masked positions are unmasked.
schedule="dream" with `eps` is Dream's step schedule (`planner.budgets.StepSchedule`; steps
may unmask nothing). alg_temp (Dream's): None or 0 takes the top k; > 0 draws the k positions
without replacement from softmax(score / alg_temp) (`planner.ranking.rank`).
distribution="sampling" with top_p / top_k is Dream's: the score is computed on, and the token
drawn from, softmax(filter(logits / temperature)); "model" (the default, LLaDA's) ranks on the
denoiser's p. Identical when greedy and unfiltered.
"""
from __future__ import annotations

from ..scores import NegEntropy
from ..step_scored import StepScoredPolicy


class LowestEntropy(StepScoredPolicy):
    score_type = NegEntropy
