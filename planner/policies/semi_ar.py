"""Semi-autoregressive blocks: LLaDA's block sampling (Nie et al. 2025, arXiv:2502.09992).

The sequence positions are cut into blocks of `block_length` (the last one may be shorter):
block b = positions [b * block_length, (b + 1) * block_length). Each step works in the current
block only: the left-most block that still holds a masked position (givens inside a block are
simply not masked). Within it, any score (`confidence`, `margin`, `entropy`, `random`) ranks the
masked positions and the top `k` are unmasked.

Budget, as in LLaDA: the `steps` T are split over the blocks, and within a block the block's
masked count is divided as evenly as possible over its steps (earlier steps take the remainder),
i.e. k = ceil(n_masked_in_block / (steps_of_block - steps_spent_in_block)). LLaDA gives every
block T // num_blocks steps and requires the division to be exact; here only the blocks of a row
that hold masked positions count, and the remainder T mod num_blocks goes one step each to the
first blocks, so NFE <= T whenever T >= the row's number of such blocks (each block needs at
least one step; a block whose masks run out early hands nothing on). `steps=None` unmasks one
position per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..context import StepContext
from ..policy import NEG_INF, Policy, Selection, take_top
from ..scores import make_score
from ..reveal import check_steps


@dataclass
class BlockProgress:
    """Per-call state over the whole batch (indexed by `ctx.rows`)."""
    allotted: torch.Tensor   # [batch, num_blocks] long, steps given to each block
    block: torch.Tensor      # [batch] long, the block the row worked in last (-1 before any)
    entered: torch.Tensor    # [batch] long, the row's step count when it entered that block


class SemiAutoregressive(Policy):
    def __init__(self, block_length: int = 9, score: str = "confidence", steps: int | None = None):
        if isinstance(block_length, bool) or not isinstance(block_length, int) or block_length < 1:
            raise ValueError(f"block_length must be a positive integer, got {block_length!r}")
        check_steps(steps, allow_none=True)
        self.block_length, self.steps = block_length, steps
        self.score_name = score
        self._score = make_score(score)

    def _blocks_with_masks(self, masked: torch.Tensor) -> torch.Tensor:
        """`[batch, length]` bool -> `[batch, num_blocks]` bool."""
        batch, length = masked.shape
        num_blocks = -(-length // self.block_length)
        padded = torch.zeros(batch, num_blocks * self.block_length, dtype=torch.bool,
                             device=masked.device)
        padded[:, :length] = masked
        return padded.view(batch, num_blocks, self.block_length).any(-1)

    def init_state(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> BlockProgress:
        has = self._blocks_with_masks(initial_masked)
        batch = has.shape[0]
        if self.steps is None:
            allotted = torch.zeros_like(has, dtype=torch.long)
        else:
            n_blocks = has.sum(-1, keepdim=True).clamp(min=1)
            active_rank = has.long().cumsum(-1) - 1
            allotted = self.steps // n_blocks + (active_rank < self.steps % n_blocks).long()
            allotted = allotted.clamp(min=1) * has
        device = initial_masked.device
        return BlockProgress(allotted=allotted,
                             block=torch.full((batch,), -1, dtype=torch.long, device=device),
                             entered=torch.zeros(batch, dtype=torch.long, device=device))

    def select(self, ctx: StepContext, state: BlockProgress) -> Selection:
        length = ctx.masked.shape[1]
        block_of = torch.arange(length, device=ctx.masked.device) // self.block_length
        current = block_of[ctx.masked.long().argmax(-1)]          # block of the first masked position
        in_block = ctx.masked & (block_of[None, :] == current[:, None])

        rows = ctx.rows
        moved = state.block[rows] != current
        state.entered[rows] = torch.where(moved, ctx.step, state.entered[rows])
        state.block[rows] = current

        n = in_block.sum(-1)
        if self.steps is None:
            k = torch.ones_like(n)
        else:
            spent = ctx.step - state.entered[rows]
            remaining = (state.allotted[rows, current] - spent).clamp(min=1)
            k = (n + remaining - 1) // remaining
        scores = self._score(ctx).masked_fill(~in_block, NEG_INF)
        ranked = torch.argsort(scores, dim=-1, descending=True, stable=True)
        return Selection(take_top(ranked, torch.minimum(k.clamp(min=1), n), length), scores)

    def __repr__(self) -> str:
        return (f"SemiAutoregressive(block_length={self.block_length}, score={self.score_name!r}, "
                f"steps={self.steps})")
