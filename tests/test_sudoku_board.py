import random

import torch

from tasks.sudoku import (MASK_ID, is_solved, load_sudoku_csv, random_grid, random_symmetry,
                          relation_ids, solve)
from tasks.sudoku.task import SudokuTask

# Puzzle/solution pair taken from ye2024_sudoku_test_1000.csv (first row).
PUZZLE = "080050060460907108005000029970006500000872031300049000004025003010000480603100007"
SOLUTION = "789251364462937158135468729978316542546872931321549876894725613217693485653184297"


def digits(s: str) -> list[int]:
    return [int(c) for c in s]


def test_relations_count_the_twenty_peers():
    rel = relation_ids()
    assert rel.shape == (81, 81)
    assert (rel.diagonal() == 7).all()
    peers = (rel > 0).sum(1) - 1  # minus self
    assert (peers == 20).all()                     # 8 in the row, 8 in the column, 4 more in the box
    assert (((rel & 1) > 0).sum(1) == 9).all()         # same row, self included
    assert (((rel & 2) > 0).sum(1) == 9).all()
    assert (((rel & 4) > 0).sum(1) == 9).all()
    assert int(rel[0, 10]) == 4                    # (0,0) and (1,1): same box only
    assert int(rel[0, 1]) == 1 + 4                 # (0,0) and (0,1): same row and box
    assert int(rel[0, 80]) == 0


def test_checker_accepts_a_solution_and_rejects_corruptions():
    sol = torch.tensor([digits(SOLUTION)])
    puz = torch.tensor([digits(PUZZLE)])
    assert is_solved(sol, puz).tolist() == [True]
    swapped = sol.clone()
    swapped[0, [0, 1]] = swapped[0, [1, 0]]        # breaks two columns
    assert is_solved(swapped).tolist() == [False]
    masked = sol.clone()
    masked[0, 5] = MASK_ID
    assert is_solved(masked).tolist() == [False]
    # a valid grid that disagrees with a given: relabel digits 1<->2 everywhere
    relabelled = sol.clone()
    relabelled[sol == 1], relabelled[sol == 2] = 2, 1
    assert is_solved(relabelled).tolist() == [True]
    assert is_solved(relabelled, puz).tolist() == [False]


def test_solver_finds_the_unique_solution_and_counts_multiple():
    assert solve(digits(PUZZLE)) == [digits(SOLUTION)]
    sparse = digits(SOLUTION)
    for i in range(0, 81, 2):
        sparse[i] = 0
    assert digits(SOLUTION) in solve(sparse, limit=5)
    assert len(solve([0] * 81, limit=3)) == 3
    clash = digits(PUZZLE)
    clash[0] = 8                                    # 8 is already in row 0
    assert solve(clash) == []


def test_random_grids_and_symmetries_stay_valid():
    rng = random.Random(1)
    grids = torch.tensor([random_grid(rng) for _ in range(20)])
    assert is_solved(grids).all()
    assert len({tuple(g) for g in grids.tolist()}) == 20
    moved = random_symmetry(grids, torch.Generator().manual_seed(0))
    assert is_solved(moved).all()
    assert (moved != grids).any(dim=1).all()


def test_training_stream_is_seeded_and_valid():
    task = SudokuTask(pool_size=16, seed=3)
    a = task.train_batch(32, torch.Generator().manual_seed(0))
    b = SudokuTask(pool_size=16, seed=3).train_batch(32, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert is_solved(a).all()


def test_shared_files_agree_with_the_checker(data_dir):
    for name in ("sudoku/ye2024_sudoku_test_1000.csv", "sudoku/rrn_style_valid_18000.csv"):
        data = load_sudoku_csv(data_dir / name, limit=200)
        assert is_solved(data.solutions, data.puzzles).all()
