"""Top-k margin (Kim et al. 2025, "Train for the Worst, Plan for the Best", arXiv:2502.06768).

Score: the margin p_i(v1) - p_i(v2) between the denoiser's two most likely tokens. Budget: `k`
per step from the step schedule (`planner.budgets.StepSchedule`), the `k` masked positions with
the largest margin are unmasked.
"""
from __future__ import annotations

from ..budgets import StepSchedule
from ..policy import ScoredPolicy
from ..scores import Margin


class TopKMargin(ScoredPolicy):
    def __init__(self, steps: int | None = None, schedule: str = "even"):
        super().__init__(Margin(), StepSchedule(steps, schedule))
