"""Semi-autoregressive blocks: LLaDA's block sampling (Nie et al. 2025, arXiv:2502.09992).

The generated region is cut into blocks of `block_length` (the last one may be shorter), as
LLaDA does: block b = positions [start + b * block_length, start + (b + 1) * block_length),
start = the row's first generated position (the end of the prompt; `block_origin="generated"`,
the default) or 0 (`block_origin="sequence"`: the Sudoku config's rows). See `planner.blocks`.
Each step works in the current block only: the left-most block that still holds a masked
position (givens inside a block are simply not masked). Within it, any score (`confidence`,
`margin`, `entropy`, `random`, or a Score object) ranks the masked positions and the top `k`
are unmasked; ties go to the lowest position. LLaDA's EOS options: `ban_tokens` (its
`logits_eos_inf`: e.g. [126081]) and `zero_confidence_tokens` (its `confidence_eos_eot_inf`:
[126348] as its code does it; see `planner.scores.Confidence`).

Budget, as in LLaDA: the `steps` T are split over the blocks, and within a block the block's
masked count is divided as evenly as possible over its steps (earlier steps take the remainder),
i.e. k = ceil(n_masked_in_block / (steps_of_block - steps_spent_in_block)). LLaDA gives every
block T // num_blocks steps and requires the division to be exact; here only the blocks of a row
that hold masked positions count, and the remainder T mod num_blocks goes one step each to the
first blocks, so NFE <= T whenever T >= the row's number of such blocks (each block needs at
least one step; a block whose masks run out early hands nothing on). Where LLaDA's division is
exact the positions are LLaDA's; LLaDA also spends a call on each step of a block whose masks
are fewer than its steps (k = 0), which this policy skips. `steps=None` unmasks one position
per step.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..blocks import block_of, check_block_length, check_origin, current_block
from ..context import StepContext
from ..context import check_token_ids
from ..policy import NEG_INF, Policy, Score, Selection, take_top
from ..views import token_view
from ..ranking import rank
from ..reveal import check_steps
from ..scores import Confidence, make_score


@dataclass
class BlockProgress:
    """Per-call state over the whole batch (indexed by `ctx.rows`)."""
    allotted: torch.Tensor   # [batch, num_blocks] long, steps given to each block
    block: torch.Tensor      # [batch] long, the block the row worked in last (-1 before any)
    entered: torch.Tensor    # [batch] long, the row's step count when it entered that block


class SemiAutoregressive(Policy):
    def __init__(self, block_length: int = 9, score: str | Score = "confidence",
                 steps: int | None = None, block_origin: str = "generated", ban_tokens=(),
                 zero_confidence_tokens=()):
        check_block_length(block_length, allow_none=False)
        check_steps(steps, allow_none=True)
        check_origin(block_origin)
        check_token_ids(ban_tokens, name="ban_tokens")
        if zero_confidence_tokens and score != "confidence":
            raise ValueError(f"zero_confidence_tokens {list(zero_confidence_tokens)} apply to "
                             f"score='confidence', got score={score!r}")
        self.block_length, self.steps, self.block_origin = block_length, steps, block_origin
        self.ban_tokens, self.zero_confidence_tokens = tuple(ban_tokens), tuple(zero_confidence_tokens)
        self.score_name = score if isinstance(score, str) else repr(score)
        if zero_confidence_tokens:
            self._score = Confidence(zero_tokens=zero_confidence_tokens)
        else:
            self._score = make_score(score) if isinstance(score, str) else score

    def _blocks_with_masks(self, masked: torch.Tensor, initial_masked: torch.Tensor) -> torch.Tensor:
        """`[batch, length]` bool -> `[batch, num_blocks]` bool."""
        blocks = block_of(initial_masked, self.block_length, self.block_origin)
        num_blocks = -(-masked.shape[1] // self.block_length)
        has = torch.zeros(masked.shape[0], num_blocks + 1, dtype=torch.long, device=masked.device)
        has.scatter_add_(1, blocks.clamp(min=-1) + 1, masked.long())   # column 0: before the origin
        return has[:, 1:] > 0

    def init_state(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> BlockProgress:
        has = self._blocks_with_masks(initial_masked, initial_masked)
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
        ctx, own_draw = token_view(ctx, "model", None, None, self.ban_tokens)
        length = ctx.masked.shape[1]
        in_block, current, _ = current_block(ctx.masked, ctx.initial_masked, self.block_length,
                                             self.block_origin)
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
        block_ctx = ctx.restrict(in_block)
        scores = self._score(block_ctx).masked_fill(~in_block, NEG_INF)
        ranked = rank(scores, ctx)
        return Selection(take_top(ranked, torch.minimum(k.clamp(min=1), n), length), scores,
                         tokens=ctx.drawn if own_draw else None)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={list(getattr(self, k))}" for k in ("ban_tokens", "zero_confidence_tokens")
                        if getattr(self, k))
        return (f"SemiAutoregressive(block_length={self.block_length}, score={self.score_name!r}, "
                f"steps={self.steps}, block_origin={self.block_origin!r}{extra})")
