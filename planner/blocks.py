"""Semi-autoregressive blocks, relative to the generated region.

LLaDA, Fast-dLLM and PC-sampler cut the *generated* region into blocks of `block_length`:
block b of a row is positions [start + b L, start + (b + 1) L), where start is the end of the
prompt. Here start is the row's first initially-masked position (`origin="generated"`, the
references' rule; for a prompt followed by masks it is the prompt length), or 0
(`origin="sequence"`: blocks of the whole sequence, e.g. Sudoku rows). Positions before the
origin belong to no block (they are givens). The current block of a row is the left-most block
that still holds a masked position.
"""
from __future__ import annotations

import torch

ORIGINS = ("generated", "sequence")


def check_block_length(block_length, allow_none: bool = True) -> None:
    if block_length is None and allow_none:
        return
    if isinstance(block_length, bool) or not isinstance(block_length, int) or block_length < 1:
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(f"block_length must be {expected}, got {block_length!r}")


def check_origin(origin) -> None:
    if origin not in ORIGINS:
        raise ValueError(f"block_origin must be one of {ORIGINS}, got {origin!r}")


def block_start(initial_masked: torch.Tensor, origin: str) -> torch.Tensor:
    """`[batch, 1]` long, the position where each row's block 0 starts."""
    if origin == "sequence":
        return torch.zeros_like(initial_masked[:, :1], dtype=torch.long)
    return initial_masked.long().argmax(-1, keepdim=True)


def block_of(initial_masked: torch.Tensor, block_length: int, origin: str) -> torch.Tensor:
    """`[batch, length]` long: each position's block index, -1 before the origin."""
    length = initial_masked.shape[1]
    positions = torch.arange(length, device=initial_masked.device)[None, :]
    offset = positions - block_start(initial_masked, origin)
    return torch.where(offset >= 0, offset // block_length, torch.full_like(offset, -1))


def current_block(masked: torch.Tensor, initial_masked: torch.Tensor, block_length: int,
                  origin: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The left-most block that still holds a masked position, per row.

    Returns (in_block `[batch, length]` bool: the masked positions of that block, block
    `[batch]` long: its index, offset `[batch, length]` long: each position's distance from
    that block's first position)."""
    blocks = block_of(initial_masked, block_length, origin)
    first = masked.long().argmax(-1)
    current = blocks.gather(1, first[:, None])[:, 0]
    in_block = masked & (blocks == current[:, None])
    length = masked.shape[1]
    offset = (torch.arange(length, device=masked.device)[None, :]
              - block_start(initial_masked, origin) - current[:, None] * block_length)
    return in_block, current, offset
