"""`LearnedPlanner`: a trained prior P_theta used as an unmasking policy in `planner.sample()`.

At inference only the prior runs (docs/design.md section 3): at each step the subset is drawn from
P_theta(r | x^(k-1)), or chosen deterministically (every p_i > threshold, else the most
likely position).
"""
from __future__ import annotations

from typing import Any

import torch

from planner.context import StepContext
from planner.policy import Policy, Selection

from .features import DenoiserSummary, OrderState
from .networks import PriorNet


class LearnedPlanner(Policy):
    """prior: a trained PriorNet. beta: the price per step it is conditioned on (only read
    by beta-conditioned networks). sample: draw the subset (True) or threshold it (False).
    threshold: the inclusion probability above which a position is taken when not sampling.
    """

    def __init__(self, prior: PriorNet, beta: float = 0.0, sample: bool = False,
                 threshold: float = 0.5):
        self.prior, self.beta, self.sample, self.threshold = prior, beta, sample, threshold
        self.needs_hidden = prior.uses_hidden

    def select(self, ctx: StepContext, state: Any = None) -> Selection:
        values, ids = ctx.top2
        summary = DenoiserSummary(confidence=values[..., 0], margin=values[..., 0] - values[..., 1],
                                  entropy=ctx.entropy32, argmax=ids[..., 0], hidden=ctx.hidden)
        beta = torch.full((ctx.tokens.shape[0],), float(self.beta), device=ctx.tokens.device)
        order_state = OrderState(tokens=ctx.tokens, masked=ctx.masked,
                                 initial_masked=ctx.initial_masked, denoised=summary, beta=beta,
                                 padding=ctx.padding)
        with torch.no_grad():
            dist = self.prior.distribution(order_state)
            chosen = (dist.sample(generator=ctx.generator) if self.sample
                      else dist.deterministic(self.threshold))
        return Selection(chosen=chosen, scores=dist.logits.masked_fill(~ctx.masked, float("-inf")))

    def __repr__(self) -> str:
        return (f"LearnedPlanner(beta={self.beta!r}, sample={self.sample!r}, "
                f"threshold={self.threshold!r})")
