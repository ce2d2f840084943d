"""Confidence threshold: Fast-dLLM's parallel decoding (Wu et al. 2025, arXiv:2505.22618).

Score: the confidence c_i (float64; `confidence="sampled"`, the default, is the probability of
the token this step writes, as Fast-dLLM's `get_transfer_index` computes it; "top" is
p_i(v1)). Budget: every masked position with c_i >= tau, and at least the single most
confident one, so each step makes progress:

    r_k = {i masked : c_i >= tau}   if that set is non-empty,  else  {argmax_i c_i}.

At equality the position is kept (`inclusive=True`, the default): Fast-dLLM's code drops a
position only when c < tau, and its Algorithm 1 keeps c >= tau; diffusers'
BlockRefinementScheduler and this project before issue 16 used c > tau (`inclusive=False`).
`block_length` runs the rule inside semi-AR blocks of the generated region (Fast-dLLM's demo:
gen 128, block 32); None is one block.
"""
from __future__ import annotations

import torch

from ..context import StepContext
from ..policy import Budget, ScoredPolicy
from ..scores import Confidence


class ConfidenceAbove(Budget):
    """k = #{masked i : c_i >= tau} (or > tau); with positions ranked by confidence these are
    the top k. Reads the policy's scores (-inf at unmasked positions)."""

    def __init__(self, tau: float, inclusive: bool = True):
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not 0.0 < tau < 1.0:
            raise ValueError(f"tau must be a number in the open interval (0, 1), got {tau!r}")
        if not isinstance(inclusive, bool):
            raise ValueError(f"inclusive must be true or false, got {inclusive!r}")
        self.tau, self.inclusive = float(tau), inclusive

    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        above = scores >= self.tau if self.inclusive else scores > self.tau
        return (ctx.masked & above).sum(-1)

    def __repr__(self) -> str:
        return f"ConfidenceAbove(tau={self.tau}, inclusive={self.inclusive})"


class ConfidenceThreshold(ScoredPolicy):
    def __init__(self, tau: float = 0.9, inclusive: bool = True, block_length: int | None = None,
                 confidence: str = "sampled"):
        super().__init__(Confidence(confidence), ConfidenceAbove(tau, inclusive),
                         block_length=block_length)
