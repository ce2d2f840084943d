"""A bitmask backtracking solver and a random complete-grid generator.

The solver picks the blank cell with the fewest candidates (minimum remaining values) and
tries them in order, or in random order for generation. It counts solutions up to a limit,
so it also checks uniqueness. Independent of the denoiser: the tests use it as ground truth.
"""
from __future__ import annotations

import random
from typing import Sequence

_PEERS: list[list[int]] = []
for _i in range(81):
    _r, _c = divmod(_i, 9)
    _b = (_r // 3) * 3 + _c // 3
    _PEERS.append([j for j in range(81) if j != _i and (
        j // 9 == _r or j % 9 == _c or ((j // 9) // 3) * 3 + (j % 9) // 3 == _b)])
_ALL = 0x3FE  # bits 1..9


def _candidates(grid: list[int], i: int) -> int:
    used = 0
    for j in _PEERS[i]:
        used |= 1 << grid[j]
    return _ALL & ~used


def _search(grid: list[int], rng: random.Random | None, limit: int, found: list[list[int]]) -> None:
    best, best_cands, best_n = -1, 0, 10
    for i in range(81):
        if grid[i] == 0:
            cands = _candidates(grid, i)
            n = bin(cands).count("1")
            if n < best_n:
                best, best_cands, best_n = i, cands, n
                if n <= 1:
                    break
    if best < 0:
        found.append(list(grid))
        return
    digits = [d for d in range(1, 10) if best_cands >> d & 1]
    if rng is not None:
        rng.shuffle(digits)
    for d in digits:
        grid[best] = d
        _search(grid, rng, limit, found)
        if len(found) >= limit:
            break
    grid[best] = 0


def solve(puzzle: Sequence[int], limit: int = 2, rng: random.Random | None = None) -> list[list[int]]:
    """Solutions of `puzzle` (81 ints, 0 for blank), at most `limit` of them."""
    if len(puzzle) != 81:
        raise ValueError(f"a puzzle has 81 cells, got {len(puzzle)}")
    grid = [int(v) for v in puzzle]
    for i, v in enumerate(grid):
        if not 0 <= v <= 9:
            raise ValueError(f"cell {i} holds {v}; expected 0 (blank) or a digit 1-9")
        if v and any(grid[j] == v for j in _PEERS[i]):
            return []
    found: list[list[int]] = []
    _search(grid, rng, limit, found)
    return found


def random_grid(rng: random.Random) -> list[int]:
    """A uniformly shuffled complete valid grid by randomised backtracking from empty."""
    return solve([0] * 81, limit=1, rng=rng)[0]
