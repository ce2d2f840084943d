"""diffusers' `EntropyBoundScheduler` (the EB-sampler with temperature annealing, Ben-Hamu et
al. 2025; diffusers >= 0.39, `schedulers/scheduling_entropy_bound.py`) as a project policy: the
real class runs each step.

At a row's step i (capped at num_inference_steps - 1) the scheduler divides the logits by
t_min + (t_max - t_min)(N - i)/N, sorts positions by the entropy of that distribution and
accepts the largest prefix with sum H - max H <= entropy_bound (at least one). The scheduler
is written for uniform corruption (every block position a candidate, the rest re-noised); here
its candidates are the row's masked positions (of its current block, `block_length`), the
masked-diffusion reading, as the project's `eb` with `t_max`, `t_min`, `anneal_steps`.
tokens: "scheduler" writes the scheduler's own sample (it always samples, at the annealed
temperature, from the call's generator, or the row's own stream with per-row seeds, which
makes it batch invariant: the scheduler runs on one row at a time); "loop" writes the
loop's tokens (greedy at temperature 0), which is where it coincides with the project's `eb`.
"""
from __future__ import annotations

import math

import torch

from ..blocks import check_block_length, current_block
from ..context import StepContext
from ..diffusers_import import diffusers_class
from ..policy import Policy, Selection
from ..revision import check_count, check_number

TOKENS = ("scheduler", "loop")


class DiffusersEntropyBound(Policy):
    def __init__(self, entropy_bound: float = 0.1, t_max: float = 0.8, t_min: float = 0.4,
                 num_inference_steps: int = 32, block_length: int | None = None,
                 tokens: str = "scheduler"):
        self.entropy_bound = check_number(entropy_bound, "entropy_bound", low=0.0)
        if math.isinf(self.entropy_bound):
            raise ValueError(f"entropy_bound must be finite, got {entropy_bound!r}")
        self.t_max = check_number(t_max, "t_max", low=0.0, open_low=True)
        self.t_min = check_number(t_min, "t_min", low=0.0, open_low=True)
        self.num_inference_steps = check_count(num_inference_steps, "num_inference_steps")
        check_block_length(block_length)
        if tokens not in TOKENS:
            raise ValueError(f"tokens must be one of {TOKENS}, got {tokens!r}")
        self.block_length, self.tokens = block_length, tokens
        cls = diffusers_class("EntropyBoundScheduler")
        self._scheduler = cls(entropy_bound=self.entropy_bound, t_max=self.t_max,
                              t_min=self.t_min, num_inference_steps=num_inference_steps)
        self._scheduler.set_timesteps(num_inference_steps)

    def select(self, ctx: StepContext, state=None) -> Selection:
        candidates = ctx.masked
        if self.block_length is not None:
            candidates, _, _ = current_block(ctx.masked, ctx.initial_masked, self.block_length,
                                             "generated")
        chosen = torch.zeros_like(ctx.masked)
        tokens = torch.full_like(ctx.tokens, -1)
        step = ctx.step.clamp(max=self.num_inference_steps - 1).cpu()
        for b in range(ctx.tokens.shape[0]):
            idx = torch.nonzero(candidates[b]).squeeze(1)
            out = self._scheduler.step(ctx.logits[b, idx][None], int(step[b]),
                                       ctx.tokens[b, idx][None], generator=ctx.row_generator(b))
            chosen[b, idx] = out.accepted_index[0]
            tokens[b, idx] = out.sampled_tokens[0]
        return Selection(chosen, scores=-ctx.entropy.masked_fill(~ctx.masked, float("inf")),
                         tokens=tokens if self.tokens == "scheduler" else None)

    def __repr__(self) -> str:
        return (f"DiffusersEntropyBound(entropy_bound={self.entropy_bound}, t_max={self.t_max}, "
                f"t_min={self.t_min}, num_inference_steps={self.num_inference_steps}, "
                f"block_length={self.block_length}, tokens={self.tokens!r})")
