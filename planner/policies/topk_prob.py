"""Top-k probability (Zheng et al. 2023, "A Reparameterized Discrete Diffusion Model for Text
Generation", arXiv:2302.05737; MaskGIT, Chang et al. 2022, arXiv:2202.04200).

Score: the confidence c_i = p_i(v1) = max_v p_i(v) (float64; `confidence="sampled"`, the
default, is the probability of the token this step writes: the same when greedy). Budget: `k`
per step from the step schedule (`planner.budgets.StepSchedule`), the `k` most confident masked
positions are unmasked.
schedule="dream" with `eps` is Dream's step schedule (`planner.budgets.StepSchedule`; steps
may unmask nothing). alg_temp (Dream's): None or 0 takes the top k; > 0 draws the k positions
without replacement from softmax(score / alg_temp) (`planner.ranking.rank`).
distribution="sampling" with top_p / top_k is Dream's: the score is computed on, and the token
drawn from, softmax(filter(logits / temperature)); "model" (the default, LLaDA's) ranks on the
denoiser's p. Identical when greedy and unfiltered. LLaDA's EOS options: `ban_tokens` (its
`logits_eos_inf`) and `zero_confidence_tokens` (its `confidence_eos_eot_inf`, `planner.scores`).
"""
from __future__ import annotations

from ..budgets import StepSchedule
from ..policy import ScoredPolicy
from ..scores import Confidence


class TopKProbability(ScoredPolicy):
    def __init__(self, steps: int | None = None, schedule: str = "even", eps: float = 1e-3,
                 alg_temp: float | None = None, distribution: str = "model",
                 top_p: float | None = None, top_k: int | None = None, confidence: str = "sampled",
                 ban_tokens=(), zero_confidence_tokens=()):
        super().__init__(Confidence(confidence, zero_confidence_tokens), StepSchedule(steps, schedule, eps),
                         alg_temp=alg_temp, distribution=distribution, top_p=top_p, top_k=top_k,
                         ban_tokens=ban_tokens)
