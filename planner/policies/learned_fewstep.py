"""The few-step learned planner (issue 14): the `learned` policy on its own weights,
`weights/sudoku-planner-fewstep`, one beta-conditioned prior whose price `beta` moves it along
the whole front (about 55 calls at beta 1e-4, 6.4 at 0.1, 3.6 at 0.2 on Sudoku)."""
from __future__ import annotations

from .learned import Learned


class LearnedFewStep(Learned):
    def __init__(self, path: str = "weights/sudoku-planner-fewstep", beta: float = 0.1,
                 mode: str = "deterministic", threshold: float = 0.5):
        super().__init__(path=path, beta=beta, mode=mode, threshold=threshold)
