"""Top-k probability (Zheng et al. 2023, "A Reparameterized Discrete Diffusion Model for Text
Generation", arXiv:2302.05737; MaskGIT, Chang et al. 2022, arXiv:2202.04200).

Score: the confidence c_i = p_i(v1) = max_v p_i(v). Budget: `k` per step from the step schedule
(`planner.budgets.StepSchedule`), the `k` most confident masked positions are unmasked.
"""
from __future__ import annotations

from ..budgets import StepSchedule
from ..policy import ScoredPolicy
from ..scores import Confidence


class TopKProbability(ScoredPolicy):
    def __init__(self, steps: int | None = None, schedule: str = "even"):
        super().__init__(Confidence(), StepSchedule(steps, schedule))
