"""The correctness planner as an unmasking policy, `learned_correct` (issue 14).

Which cells: the n masked cells of highest c_i, the correctness model's probability that the
denoiser's argmax at cell i is right (`vi.correctness`). How many, `count`:
- "margin" (the default): the count of Fast-dLLM's factor rule on the margin
  (`factor_margin`): the largest n with (n + 1)(1 - m(n)) <= f over the margins sorted
  descending, at least one. The rule's own count, the model's choice of cells.
- "correctness": the factor rule on c itself, the largest n with (n + 1)(1 - c(n)) <= f.
Smaller f, more calls. The tokens written are the loop's (greedy: the argmax the model judged).
On validation rows outside the bar, "margin" was 12-14 points above "correctness" at 4-5 calls
and level with it at 8-10 (docs/results/sudoku_fewstep.md, "The correctness planner").
"""
from __future__ import annotations

from pathlib import Path

import torch

from denoiser.paths import resolve_folder
from planner.context import StepContext
from planner.policies.factor import FactorBudget
from planner.policy import Budget, Score, ScoredPolicy

SHIPPED = "weights/sudoku-correctness"
COUNTS = ("margin", "correctness")


class MarginFactorCount(Budget):
    """The factor rule's count on the margin, whatever the policy's own score ranks."""

    def __init__(self, f: float):
        self.factor = FactorBudget(f, score="margin")

    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        margin = ctx.margin.double().masked_fill(~ctx.masked, float("-inf"))
        return self.factor(ctx, margin, margin.argsort(dim=1, descending=True, stable=True))

    def __repr__(self) -> str:
        return f"MarginFactorCount(f={self.factor.f})"


class CorrectnessScore(Score):
    """c_i = sigmoid(the correctness model's log-odds), float64."""

    def __init__(self, net):
        self.net = net

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        self.net.to(ctx.logits.device)
        with torch.no_grad():
            logits = self.net(ctx.probs, ctx.masked, ctx.initial_masked)
        return torch.sigmoid(logits.double())

    def __repr__(self) -> str:
        return f"CorrectnessScore({self.net.structure!r})"


def count_budget(f: float, count: str) -> Budget:
    """How many cells a call takes: the factor rule's count on the margin ("margin") or on the
    policy's own score ("correctness")."""
    if count not in COUNTS:
        raise ValueError(f"count must be one of {COUNTS}, got {count!r}")
    return MarginFactorCount(f) if count == "margin" else FactorBudget(f)


class LearnedCorrect(ScoredPolicy):
    def __init__(self, path: str = SHIPPED, f: float = 1.5, count: str = "margin"):
        from .correctness import load_correctness

        budget = count_budget(f, count)
        self.path = Path(resolve_folder(path)).resolve()
        net, self._config = load_correctness(self.path)
        self.f, self.count = f, count
        super().__init__(CorrectnessScore(net), budget)

    def check_denoiser(self, denoiser) -> None:
        from .checkpoint import check_planner_for
        check_planner_for(self._config, self.path, denoiser)

    def __repr__(self) -> str:
        return f"LearnedCorrect(f={self.f}, count={self.count!r})"
