"""Random-k: LLaDA's `remasking="random"` (Nie et al. 2025, arXiv:2502.09992).

Score: u_i ~ Uniform(0, 1), independent per position and step (a uniformly random order).
Budget: `k` per step from the step schedule (`planner.budgets.StepSchedule`): with
schedule="even", k = ceil(n_masked / (T - step)), so NFE = min(T, n_masked) exactly.
Unlike `random` (vanilla ancestral), the number revealed per step is fixed, not Binomial.
"""
from __future__ import annotations

from ..budgets import StepSchedule
from ..policy import ScoredPolicy
from ..scores import Uniform


class RandomK(ScoredPolicy):
    def __init__(self, steps: int | None = None, schedule: str = "even"):
        super().__init__(Uniform(), StepSchedule(steps, schedule))
