"""P2 self-planning (Peng et al. 2025, "Path Planning for Masked Diffusion Model Sampling",
arXiv:2502.03540; the authors' `p2_sampling`, pengzhangzhi/Path-Planning@68675ea,
`src/path_planning/p2.py`).

T steps. At step i = 1..T the denoiser predicts every position; each non-given position gets
a score, the log-probability of its token:

- a masked position: the predicted token x0_i (the argmax), log p_i(x0_i);
- a filled position: its current token, log p_i(x_i), multiplied by `eta` (eta = 0 never
  remasks; eta > 1 remasks more readily; scores are <= 0);

then the floor(n (1 - kappa(i/T))) lowest-scoring non-given positions (n of them in all) are
masked, strictly below the score at that rank (the reference's `topk_lowest_masking`), and
the rest are filled: masked ones get the loop's token, filled ones keep theirs. kappa is the
linear schedule kappa(t) = t, so the last step fills everything and NFE = T.

Difference from the reference, a documented choice (`rescore`): its code scores a filled
position by the log-probability of the *predicted* token there (x0, which may differ from the
one written); "current" (the default) scores the written token, which is the self-planning
the paper describes (re-score what was committed in its current context). `rescore="argmax"`
is the reference's rule.
"""
from __future__ import annotations

import torch

from ..context import StepContext
from ..policy import Policy, Selection
from ..revision import check_count, check_number, check_schedule_bound, committed_prob, revisable

RESCORE = ("current", "argmax")


class P2(Policy):
    revises = True

    def __init__(self, steps: int = 64, eta: float = 1.0, rescore: str = "current"):
        self.steps = check_count(steps, "steps")
        self.eta = check_number(eta, "eta", low=0.0)
        if rescore not in RESCORE:
            raise ValueError(f"rescore must be one of {RESCORE}, got {rescore!r}")
        self.rescore = rescore
        self.max_nfe = self.steps

    def check_max_nfe(self, max_nfe: int) -> None:
        check_schedule_bound(self, max_nfe)

    def scores(self, ctx: StepContext) -> torch.Tensor:
        """`[batch, length]` float64 log-probability scores, +inf at givens."""
        log_conf = torch.log(ctx.confidence.double())
        filled = revisable(ctx)
        own = log_conf if self.rescore == "argmax" else torch.log(committed_prob(ctx).double())
        score = torch.where(filled, own * self.eta, log_conf)
        return score.masked_fill(~ctx.initial_masked, float("inf"))

    def select(self, ctx: StepContext, state=None) -> Selection:
        i = (ctx.step + 1).double()
        kappa = (i / self.steps).clamp(max=1.0)
        free = ctx.initial_masked.sum(-1).double()
        n_mask = torch.floor(free * (1.0 - kappa)).long()
        score = self.scores(ctx)
        cutoff = score.sort(-1).values.gather(-1, n_mask[:, None])
        lowest = score < cutoff
        chosen = ctx.masked & ~lowest
        remask = revisable(ctx) & lowest
        revisit = ctx.step + 1 < self.steps
        return Selection(chosen, scores=score.float(), remask=remask, revisit=revisit)
