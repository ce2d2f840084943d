"""A cheap alternative to self-attention for the planner networks: pooling over the task's
structure (DeepSets-style message passing).

Each block mixes every position with the means of the groups it belongs to: for Sudoku its
row, column, box and the whole grid; for a plain sequence a window of its neighbours and the
whole sequence. The cost is a few `[length, length]` averaging products, linear in the width:
the planner's share of a sampling step and of a training step stays small next to the
denoiser's, where a d=32 attention layer with 8-dimensional heads does not on a CPU.
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import nn

# Half-width of the neighbour window of the "sequence" structure.
WINDOW = 4


@lru_cache(maxsize=16)
def _pools(structure: str, length: int) -> torch.Tensor:
    if structure == "sudoku":
        from denoiser.grid import BOX, COL, ROW
        groups = [ROW, COL, BOX, torch.zeros_like(ROW)]
        mats = [(g[:, None] == g[None, :]).float() for g in groups]
    elif structure == "sequence":
        i = torch.arange(length)
        mats = [((i[:, None] - i[None, :]).abs() <= WINDOW).float(), torch.ones(length, length)]
    else:
        raise ValueError(f"no pooling groups for structure {structure!r}")
    mats = torch.stack(mats)
    return mats / mats.sum(-1, keepdim=True)


def pool_matrices(structure: str, length: int, device=None) -> torch.Tensor:
    """`[n_pools, length, length]`: row i of pool p averages the positions of i's p-th group."""
    return _pools(structure, length).to(device)


def n_pools(structure: str) -> int:
    return {"sudoku": 4, "sequence": 2}[structure]


class PoolBlock(nn.Module):
    """h + W [mean of each group of LN(h)], then a pre-LayerNorm feed-forward, both residual."""

    def __init__(self, d_model: int, d_ff: int, pools: int):
        super().__init__()
        self.norm_mix = nn.LayerNorm(d_model)
        self.mix = nn.Linear(pools * d_model, d_model)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, h: torch.Tensor, pools: torch.Tensor) -> torch.Tensor:
        z = self.norm_mix(h)
        pooled = torch.einsum("pij,bjd->bipd", pools.to(z.dtype), z).flatten(2)
        h = h + self.mix(pooled)
        return h + self.ff(self.norm_ff(h))


class PoolEncoder(nn.Module):
    """`n_layers` PoolBlocks over `structure`'s groups; `forward(h [batch, length, d])`."""

    def __init__(self, d_model: int, d_ff: int, n_layers: int, structure: str):
        super().__init__()
        self.structure = structure
        self.blocks = nn.ModuleList(PoolBlock(d_model, d_ff, n_pools(structure))
                                    for _ in range(n_layers))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        pools = pool_matrices(self.structure, h.shape[1], h.device)
        for block in self.blocks:
            h = block(h, pools)
        return h
