"""The validity-preserving symmetries of Sudoku, applied to a batch of grids at once.

Digit relabelling, row swaps within bands, band swaps, column swaps within stacks, stack
swaps and the transpose each map a valid grid to a valid grid; composed at random they turn
a small pool of base grids into an effectively unlimited training stream.
"""
from __future__ import annotations

import torch


def _block_permutation(batch: int, generator: torch.Generator) -> torch.Tensor:
    """`[batch, 9]` permutations of 0..8 that permute 3 blocks of 3 and within each block."""
    outer = torch.argsort(torch.rand(batch, 3, generator=generator), dim=1)         # [B, 3]
    inner = torch.argsort(torch.rand(batch, 3, 3, generator=generator), dim=2)      # [B, 3, 3]
    return (outer[:, :, None] * 3 + inner).reshape(batch, 9)


def random_symmetry(grids: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply an independent random symmetry to each grid. grids: `[batch, 81]` ids 1..9."""
    batch = grids.shape[0]
    g = grids.view(batch, 9, 9)
    rows = _block_permutation(batch, generator)
    cols = _block_permutation(batch, generator)
    g = torch.gather(g, 1, rows[:, :, None].expand(batch, 9, 9))
    g = torch.gather(g, 2, cols[:, None, :].expand(batch, 9, 9))
    flip = torch.rand(batch, generator=generator) < 0.5
    g = torch.where(flip[:, None, None], g.transpose(1, 2), g)
    relabel = torch.argsort(torch.rand(batch, 9, generator=generator), dim=1) + 1   # [B, 9]
    relabel = torch.cat([torch.zeros(batch, 1, dtype=relabel.dtype), relabel], dim=1)
    return torch.gather(relabel, 1, g.reshape(batch, 81).long()).to(grids.dtype)
