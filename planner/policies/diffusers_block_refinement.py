"""diffusers' `BlockRefinementScheduler` (LLaDA 2.x block refinement; diffusers >= 0.38,
`schedulers/scheduling_block_refinement.py`) as a project policy: the real class runs each
step, so `compare` measures it beside the project's own rules on the same denoiser.

Each row works in its current semi-AR block of `block_length` positions of the generated region
(`planner.blocks`, `block_origin`); the scheduler is given that block's logits, tokens, step
index within the block and its given positions (`prompt_mask`), and its `transfer_index`
(committed masks), `editing_transfer_index` (edited tokens) and `sampled_tokens` are the step's
selection and tokens. Its rule: step j commits the j-th count of an even split of the block over
`num_inference_steps`, or every masked position with p(sampled) > threshold when they are more;
with `editing_threshold`, filled non-given positions of the block whose sampled token differs
with p > editing_threshold are replaced.

Differences from diffusers' `LLaDA2Pipeline` loop, documented choices: blocks start at the
generated region (the pipeline aligns them to absolute multiples of block_length, prompt
included) unless `block_origin="sequence"`; the denoiser sees the whole sequence (the pipeline
shows it only the blocks up to the current one); a block is left as soon as it has no mask (the
pipeline's post-mask edit-only steps are not taken). `num_inference_steps` is per block and may
not exceed `block_length`, so every step commits at least one position (the pipeline clamps it
the same way by `gen_length // minimal_topk`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..blocks import block_of, check_block_length, check_origin, current_block
from ..context import StepContext
from ..diffusers_import import diffusers_class
from ..policy import Policy, Selection
from ..revision import check_count, check_number


MASK_SENTINEL = -1


@dataclass
class BlockClock:
    block: torch.Tensor     # [batch] long, the block the row worked in last (-1 before any)
    entered: torch.Tensor   # [batch] long, the row's step count when it entered that block


class DiffusersBlockRefinement(Policy):
    def __init__(self, block_length: int = 32, num_inference_steps: int = 32,
                 threshold: float = 0.95, editing_threshold: float | None = None,
                 minimal_topk: int = 1, block_origin: str = "generated"):
        check_block_length(block_length, allow_none=False)
        check_origin(block_origin)
        self.num_inference_steps = check_count(num_inference_steps, "num_inference_steps")
        if num_inference_steps > block_length:
            raise ValueError(f"num_inference_steps {num_inference_steps} exceeds block_length "
                             f"{block_length}: a step would commit nothing")
        self.threshold = check_number(threshold, "threshold", low=0.0, high=1.0, open_low=True,
                                      open_high=False)
        if editing_threshold is not None:
            editing_threshold = check_number(editing_threshold, "editing_threshold", low=0.0,
                                             high=1.0, open_low=True, open_high=True)
        self.block_length, self.block_origin = block_length, block_origin
        self.editing_threshold = editing_threshold
        self.minimal_topk = check_count(minimal_topk, "minimal_topk")
        self.revises = editing_threshold is not None
        cls = diffusers_class("BlockRefinementScheduler")
        self._scheduler = cls(block_length=block_length, num_inference_steps=num_inference_steps,
                              threshold=self.threshold, editing_threshold=editing_threshold,
                              minimal_topk=self.minimal_topk)
        self._scheduler.set_timesteps(num_inference_steps, block_length=block_length)

    def init_state(self, initial_masked: torch.Tensor, generator) -> BlockClock:
        batch = initial_masked.shape[0]
        return BlockClock(block=torch.full((batch,), -1, dtype=torch.long),
                          entered=torch.zeros(batch, dtype=torch.long))

    def select(self, ctx: StepContext, state: BlockClock) -> Selection:
        _, current, _ = current_block(ctx.masked, ctx.initial_masked, self.block_length,
                                      self.block_origin)
        blocks = block_of(ctx.initial_masked, self.block_length, self.block_origin)
        rows, step, cur = ctx.rows.cpu(), ctx.step.cpu(), current.cpu()
        moved = state.block[rows] != cur
        state.entered[rows] = torch.where(moved, step, state.entered[rows])
        state.block[rows] = cur
        chosen = torch.zeros_like(ctx.masked)
        edit = torch.zeros_like(ctx.masked)
        tokens = torch.full_like(ctx.tokens, -1)
        real = torch.ones_like(ctx.masked) if ctx.padding is None else ~ctx.padding
        for b in range(ctx.tokens.shape[0]):
            idx = torch.nonzero((blocks[b] == current[b]) & real[b]).squeeze(1)
            # the block's masked positions carry the sentinel -1 as the scheduler's mask id
            block = ctx.tokens[b, idx].masked_fill(ctx.masked[b, idx], MASK_SENTINEL)
            out = self._scheduler.step(
                ctx.logits[b, idx][None], int(step[b] - state.entered[rows[b]]), block[None],
                mask_token_id=MASK_SENTINEL, temperature=ctx.temperature,
                prompt_mask=~ctx.initial_masked[b, idx], generator=ctx.row_generator(b))
            chosen[b, idx] = out.transfer_index[0] & ctx.masked[b, idx]
            if self.revises:
                edit[b, idx] = out.editing_transfer_index[0] & ~ctx.masked[b, idx]
            tokens[b, idx] = out.sampled_tokens[0]
        return Selection(chosen, scores=ctx.confidence.masked_fill(~ctx.masked, float("-inf")),
                         edit=edit if self.revises else None, tokens=tokens)

    def __repr__(self) -> str:
        return (f"DiffusersBlockRefinement(block_length={self.block_length}, "
                f"num_inference_steps={self.num_inference_steps}, threshold={self.threshold}, "
                f"editing_threshold={self.editing_threshold}, minimal_topk={self.minimal_topk}, "
                f"block_origin={self.block_origin!r})")
