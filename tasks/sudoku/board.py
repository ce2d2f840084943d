"""Sudoku board geometry and the validity checker (the accuracy metric).

Token ids: 0 is the mask (a blank cell), 1..9 are the digits themselves, so a puzzle string
with `0` for blanks maps to token ids with no translation. Cells are row-major, 81 of them.
"""
from __future__ import annotations

import torch

# the grid's geometry lives with the denoiser that is built on it (denoiser/grid.py)
from denoiser.grid import BOX, COL, LENGTH, ROW, relation_ids

MASK_ID = 0
VOCAB_SIZE = 10

# The 27 units (9 rows, 9 columns, 9 boxes) as cell indices: [27, 9]
UNITS = torch.cat([
    torch.stack([torch.nonzero(ROW == r).squeeze(1) for r in range(9)]),
    torch.stack([torch.nonzero(COL == c).squeeze(1) for c in range(9)]),
    torch.stack([torch.nonzero(BOX == b).squeeze(1) for b in range(9)]),
])


def is_solved(grids: torch.Tensor, puzzles: torch.Tensor | None = None) -> torch.Tensor:
    """Whether each grid is a valid complete Sudoku that keeps its puzzle's givens.

    grids: `[batch, 81]` token ids; puzzles: `[batch, 81]` with MASK_ID at blanks, optional.
    Returns `[batch]` bool. Every unit must hold each digit 1..9 exactly once.
    """
    if grids.dim() != 2 or grids.shape[1] != LENGTH:
        raise ValueError(f"grids must be [batch, {LENGTH}], got {tuple(grids.shape)}")
    in_range = ((grids >= 1) & (grids <= 9)).all(dim=1)
    units = grids[:, UNITS.to(grids.device)]                       # [batch, 27, 9]
    onehot = torch.nn.functional.one_hot(units.clamp(0, 9), 10)[..., 1:]  # [batch, 27, 9, 9]
    each_once = (onehot.sum(dim=2) == 1).all(dim=(1, 2))
    ok = in_range & each_once
    if puzzles is not None:
        if puzzles.shape != grids.shape:
            raise ValueError(f"puzzles {tuple(puzzles.shape)} must match grids {tuple(grids.shape)}")
        given = puzzles != MASK_ID
        ok = ok & ((grids == puzzles) | ~given).all(dim=1)
    return ok


def to_string(grid: torch.Tensor) -> str:
    """One grid `[81]` as 81 characters, `.` for a mask."""
    return "".join("." if int(v) == MASK_ID else str(int(v)) for v in grid)


def pretty(grid: torch.Tensor) -> str:
    """A 9x9 drawing of one grid `[81]` with box separators."""
    s = to_string(grid)
    lines = []
    for r in range(9):
        if r and r % 3 == 0:
            lines.append("------+-------+------")
        row = s[9 * r: 9 * r + 9]
        lines.append(" | ".join(" ".join(row[c: c + 3]) for c in (0, 3, 6)))
    return "\n".join(lines)
