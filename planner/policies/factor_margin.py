"""Factor rule on the margin: Fast-dLLM's factor rule (`factor.py`) with the top-k margin
m_i = p_i(v1) - p_i(v2) (Kim et al. 2025, arXiv:2502.06768) in place of the confidence.

Score: the margin. Sort the masked positions by margin, descending, m(1) >= m(2) >= ...;
Budget: the largest n with

    m(n) >= 1 - f / (n + 1),

and at least 1. 1 - m_i = 1 - p_i(v1) + p_i(v2) is at least the confidence rule's 1 - c_i, and
about twice it at a confident position whose runner-up holds most of the rest, so its f is
about twice the confidence rule's for the same number of calls. What it adds: one step at a
time it is the top-k margin order, which on Sudoku is the best one-per-step order.
"""
from __future__ import annotations

from ..policy import ScoredPolicy
from ..scores import Margin
from .factor import FactorBudget


class MarginFactorRule(ScoredPolicy):
    def __init__(self, f: float = 2.0, block_length: int | None = None):
        super().__init__(Margin(), FactorBudget(f, score="margin"), block_length=block_length)
