"""Lowest entropy first: Dream's `alg="entropy"` (Ye et al. 2025, arXiv:2508.15487).

Score: -H(p_i) = sum_v p_i(v) log p_i(v) (nats). Budget: `k` per step from the step schedule
(`planner.budgets.StepSchedule`), the `k` lowest-entropy masked positions are unmasked.
"""
from __future__ import annotations

from ..budgets import StepSchedule
from ..policy import ScoredPolicy
from ..scores import NegEntropy


class LowestEntropy(ScoredPolicy):
    def __init__(self, steps: int | None = None, schedule: str = "even"):
        super().__init__(NegEntropy(), StepSchedule(steps, schedule))
