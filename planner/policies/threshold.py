"""Confidence threshold: Fast-dLLM's parallel decoding (Wu et al. 2025, arXiv:2505.22618).

Score: the confidence c_i = p_i(v1). Budget: every masked position with c_i > tau, and at
least the single most confident one, so each step makes progress:

    r_k = {i masked : c_i > tau}   if that set is non-empty,  else  {argmax_i c_i}.
"""
from __future__ import annotations

import torch

from ..context import StepContext
from ..policy import Budget, ScoredPolicy
from ..scores import Confidence


class ConfidenceAbove(Budget):
    """k = #{masked i : c_i > tau}; with positions ranked by confidence these are the top k."""

    def __init__(self, tau: float):
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not 0.0 < tau < 1.0:
            raise ValueError(f"tau must be a number in the open interval (0, 1), got {tau!r}")
        self.tau = float(tau)

    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        return (ctx.masked & (ctx.confidence > self.tau)).sum(-1)

    def __repr__(self) -> str:
        return f"ConfidenceAbove(tau={self.tau})"


class ConfidenceThreshold(ScoredPolicy):
    def __init__(self, tau: float = 0.9):
        super().__init__(Confidence(), ConfidenceAbove(tau))
