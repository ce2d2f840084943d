"""The cell structure of a 9x9 grid with 3x3 boxes, for denoisers with `structure="sudoku"`.

It lives with the denoiser that needs it (row/column/box embeddings and a learned attention
bias per cell relation); the Sudoku task and the planner networks read the same tensors from
here. Cells are row-major, 81 of them.
"""
from __future__ import annotations

import torch

LENGTH = 81
ROW = torch.arange(LENGTH) // 9            # [81]
COL = torch.arange(LENGTH) % 9             # [81]
BOX = (ROW // 3) * 3 + COL // 3            # [81]


def relation_ids() -> torch.Tensor:
    """Pairwise cell relation `[81, 81]` as an id in 0..7: bit 0 same row, bit 1 same column,
    bit 2 same box. Self is 7, a non-peer 0. Used as a learned attention bias."""
    same_row = (ROW[:, None] == ROW[None, :]).long()
    same_col = (COL[:, None] == COL[None, :]).long()
    same_box = (BOX[:, None] == BOX[None, :]).long()
    return same_row + 2 * same_col + 4 * same_box
