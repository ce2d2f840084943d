"""Token editing: commit by confidence, then replace committed tokens the denoiser now
contradicts (LLaDA 2.1's editing decoding; diffusers' `BlockRefinementScheduler`,
huggingface/diffusers@125342c, `schedulers/scheduling_block_refinement.py`).

The sequence is one block of n masked positions decoded in `steps` steps; step j commits
base = n // steps tokens (the first n % steps steps one more): every masked position with
confidence above `threshold` if there are at least that many, else the most confident ones.
In the same call, every filled non-given position whose predicted token differs from the one
written and has probability above `editing_threshold` is edited (replaced by the loop's
token). Once no position is masked, the row takes further edit-only calls while the previous
one edited something, at most `max_post_steps` of them; a call that edits nothing ends it.
`editing_threshold: null` turns editing off, leaving the scheduler's commit rule.

Difference from the scheduler, a documented choice: edits are drawn by the loop at its
temperature (the scheduler samples once per step and compares that sample).
"""
from __future__ import annotations

import torch

from ..context import StepContext
from ..policy import Policy, Selection, take_top
from ..revision import check_count, check_number, revisable


class TokenEdit(Policy):
    revises = True

    def __init__(self, steps: int = 32, threshold: float = 0.95,
                 editing_threshold: float | None = 0.9, max_post_steps: int = 16):
        self.steps = check_count(steps, "steps")
        self.threshold = check_number(threshold, "threshold", low=0.0, high=1.0,
                                      open_low=True, open_high=True)
        if editing_threshold is not None:
            editing_threshold = check_number(editing_threshold, "editing_threshold", low=0.0,
                                             high=1.0, open_low=True, open_high=True)
        self.editing_threshold = editing_threshold
        self.max_post_steps = check_count(max_post_steps, "max_post_steps", minimum=0)
        self.max_nfe = self.steps + self.max_post_steps

    def init_state(self, initial_masked: torch.Tensor, generator):
        return {"n0": initial_masked.sum(-1), "post": torch.zeros(initial_masked.shape[0], dtype=torch.long)}

    def _quota(self, ctx: StepContext, n0: torch.Tensor) -> torch.Tensor:
        j = ctx.step.clamp(max=self.steps - 1)
        base, extra = n0 // self.steps, n0 % self.steps
        return base + (j < extra).long()

    def select(self, ctx: StepContext, state) -> Selection:
        conf = ctx.confidence
        n0 = state["n0"][ctx.rows].to(conf.device)
        quota = torch.minimum(self._quota(ctx, n0), ctx.n_masked)
        masked_conf = conf.masked_fill(~ctx.masked, float("-inf"))
        high = ctx.masked & (masked_conf > self.threshold)
        ranked = torch.argsort(masked_conf.double(), dim=-1, descending=True, stable=True)
        top = take_top(ranked, quota, conf.shape[1])
        chosen = torch.where((high.sum(-1) >= quota)[:, None], high, top)
        edit = torch.zeros_like(chosen)
        if self.editing_threshold is not None:
            predicted = ctx.top2[1][..., 0]
            edit = revisable(ctx) & (predicted != ctx.tokens) & (conf > self.editing_threshold)
        had_masks = ctx.masked.any(-1)
        post = state["post"]
        rows = ctx.rows.cpu()
        post[rows] = post[rows] + (~had_masks).long().cpu()
        more_edits = edit.any(-1) & (post[rows].to(conf.device) < self.max_post_steps)
        editing = self.editing_threshold is not None and self.max_post_steps > 0
        revisit = (had_masks & editing) | more_edits
        return Selection(chosen, scores=masked_conf, edit=edit, revisit=revisit)
