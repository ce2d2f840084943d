"""`StepScoredPolicy`: one score ranked under a step schedule, the shape of the step-count rules
(top-k margin, lowest entropy): `k` per step from `planner.budgets.StepSchedule`, the `k`
best-scored masked positions unmasked. A subclass names its score as `score_type`."""
from __future__ import annotations

from .budgets import StepSchedule
from .policy import ScoredPolicy
from .scores import Score


class StepScoredPolicy(ScoredPolicy):
    score_type: type[Score]

    def __init__(self, steps: int | None = None, schedule: str = "even", eps: float = 1e-3,
                 alg_temp: float | None = None, distribution: str = "model",
                 top_p: float | None = None, top_k: int | None = None):
        super().__init__(self.score_type(), StepSchedule(steps, schedule, eps), alg_temp=alg_temp,
                         distribution=distribution, top_p=top_p, top_k=top_k)
