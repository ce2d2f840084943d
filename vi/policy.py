"""`LearnedPlanner`: a trained prior P_theta used as an unmasking policy in `planner.sample()`.

At inference only the prior runs (docs/design.md section 3): at each step the subset is drawn from
P_theta(r | x^(k-1)), or chosen deterministically (every p_i > threshold, else the most
likely position).
"""
from __future__ import annotations

from typing import Any

import torch

from planner.budgets import StepSchedule
from planner.context import StepContext
from planner.policy import Policy, Selection, take_top
from planner.ranking import rank

from .features import DenoiserSummary, OrderState
from .networks import PriorNet


class LearnedPlanner(Policy):
    """prior: a trained PriorNet. beta: the price per step it is conditioned on (only read
    by beta-conditioned networks). sample: draw the subset (True) or threshold it (False).
    threshold: the inclusion probability above which a position is taken when not sampling.
    ranked: instead of thresholding, reveal the highest-logit masked positions, as many as
        LLaDA's even schedule over `steps` calls gives (`planner.budgets.StepSchedule`; steps
        None: one per step), so that every planner, one-per-step ones included, runs at
        exactly the calls of a fixed schedule (docs/results/objectives.md). Excludes sample.
    """

    def __init__(self, prior: PriorNet, beta: float = 0.0, sample: bool = False,
                 threshold: float = 0.5, ranked: bool = False, steps: int | None = None):
        if ranked and sample:
            raise ValueError("ranked=True ranks the planner's logits deterministically; it "
                             "excludes sample=True")
        if steps is not None and not ranked:
            raise ValueError(f"steps={steps!r} is the schedule of ranked=True")
        self.prior, self.beta, self.sample, self.threshold = prior, beta, sample, threshold
        self.schedule = StepSchedule(steps) if ranked else None
        self.needs_hidden = prior.uses_hidden


    def select(self, ctx: StepContext, state: Any = None) -> Selection:
        values, ids = ctx.top2
        summary = DenoiserSummary(confidence=values[..., 0], margin=values[..., 0] - values[..., 1],
                                  entropy=ctx.entropy32, argmax=ids[..., 0], hidden=ctx.hidden,
                                  probs=ctx.probs if self.prior.reads_probs else None)
        beta = torch.full((ctx.tokens.shape[0],), float(self.beta), device=ctx.tokens.device)
        order_state = OrderState(tokens=ctx.tokens, masked=ctx.masked,
                                 initial_masked=ctx.initial_masked, denoised=summary, beta=beta,
                                 padding=ctx.padding)
        with torch.no_grad():
            dist = self.prior.distribution(order_state)
            scores = dist.logits.masked_fill(~ctx.masked, float("-inf"))
            if self.schedule is not None:
                ranked = rank(scores, ctx)
                chosen = take_top(ranked, self.schedule(ctx, scores, ranked), scores.shape[-1])
            elif self.sample:
                chosen = dist.sample(generator=ctx.generator, uniform=None if ctx.streams is None
                                     else lambda shape: ctx.rand(*shape, dtype=torch.float64))
            else:
                chosen = dist.deterministic(self.threshold)
        return Selection(chosen=chosen, scores=scores)

    def __repr__(self) -> str:
        steps = "" if self.schedule is None else f", steps={self.schedule.steps!r}"
        return (f"LearnedPlanner(beta={self.beta!r}, sample={self.sample!r}, "
                f"threshold={self.threshold!r}{steps})")
