"""`PosteriorOracle`: the trained posterior Q_phi(r | x^(k-1), x) as an unmasking policy.

Q_phi sees the solution x (DESIGN section 3), so sampling with it is an oracle, not a planner:
it is what the prior P_theta is trained towards, and its accuracy and NFE bound what the
prior can reach from the same inputs plus the truth. The tokens are still the denoiser's
(greedy or sampled by `planner.sample()`); the oracle only chooses which cells to reveal.
One oracle serves one `sample()` call: `references` are that call's solutions, row for row.
"""
from __future__ import annotations

from typing import Any

import torch

from planner.context import StepContext
from planner.policy import Policy, Selection

from .features import DenoiserSummary, OrderState, true_log_prob
from .networks import PosteriorNet


class PosteriorOracle(Policy):
    """posterior: a trained PosteriorNet. references: `[batch, length]` the clean sequences of
    the batch given to `sample()`. beta: the price it is conditioned on. threshold: take every
    position with q_i > threshold, else the most likely one."""

    def __init__(self, posterior: PosteriorNet, references: torch.Tensor, beta: float = 0.0,
                 threshold: float = 0.5):
        if references.dim() != 2:
            raise ValueError(f"references must be [batch, length], got {tuple(references.shape)}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        self.posterior, self.references = posterior, references.long()
        self.beta, self.threshold = beta, threshold
        self.needs_hidden = posterior.uses_hidden

    def select(self, ctx: StepContext, state: Any = None) -> Selection:
        if int(ctx.rows.max()) >= self.references.shape[0]:
            raise ValueError(f"row {int(ctx.rows.max())} of the batch has no reference: the "
                             f"oracle holds {self.references.shape[0]}")
        x = self.references.to(ctx.tokens.device)[ctx.rows]
        values, ids = ctx.top2
        summary = DenoiserSummary(confidence=values[..., 0], margin=values[..., 0] - values[..., 1],
                                  entropy=ctx.entropy32, argmax=ids[..., 0], hidden=ctx.hidden,
                                  probs=ctx.probs if self.posterior.reads_probs else None)
        beta = torch.full((ctx.tokens.shape[0],), float(self.beta), device=ctx.tokens.device)
        order_state = OrderState(tokens=ctx.tokens, masked=ctx.masked,
                                 initial_masked=ctx.initial_masked, denoised=summary, beta=beta,
                                 true_log_prob=true_log_prob(ctx.logits, x))
        with torch.no_grad():
            dist = self.posterior.distribution(order_state, x)
            chosen = dist.deterministic(self.threshold)
        return Selection(chosen=chosen, scores=dist.logits.masked_fill(~ctx.masked, float("-inf")))

    def __repr__(self) -> str:
        return f"PosteriorOracle(beta={self.beta!r}, threshold={self.threshold!r})"
