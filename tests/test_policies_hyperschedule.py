"""tau-hyperschedules: fixed reveal steps, computed by hand for small lengths."""
from __future__ import annotations

import pytest
import torch

from planner import sample
from planner.policies.hyperschedule_block import BlockAnnealing
from planner.policies.hyperschedule_window import SlidingWindow
from policy_fixtures import ToyDenoiser


def steps_of(policy, initial_masked):
    state = policy.init_state(torch.tensor(initial_masked), None)
    return [[int(v) if m else None for v, m in zip(row, mask)]
            for row, mask in zip(state.tolist(), initial_masked)]


def test_block_five_positions_width_two_three_steps():
    """n = 5, w = 2: blocks {0,1}, {2,3}, {4}, B = 3 divides T = 3, so one step per block."""
    assert steps_of(BlockAnnealing(w=2, steps=3), [[True] * 5]) == [[0, 0, 1, 1, 2]]


def test_block_five_positions_width_two_four_steps():
    """T = 4, each block gets 4/3 of a step. r = ceil(4 (b m + j + 1) / (3 m)) - 1:
    q0: ceil(4/6) - 1 = 0; q1: ceil(8/6) - 1 = 1; q2: ceil(12/6) - 1 = 1; q3: ceil(16/6) - 1 = 2;
    q4 (block of one): ceil(12/3) - 1 = 3. In time: block 0 is half revealed at s = 1/6 (step
    1 of 4), whole at 1/3 (step 2); block 1 half at 1/2 (step 2), whole at 2/3 (step 3); block 2
    at 1 (step 4)."""
    assert steps_of(BlockAnnealing(w=2, steps=4), [[True] * 5]) == [[0, 1, 1, 2, 3]]


def test_block_counts_masked_positions_only():
    """Masks at 0, 2, 3, 5 are ranks 0..3: blocks {0, 2} and {3, 5}, T = 2: one step each."""
    mask = [[True, False, True, True, False, True]]
    assert steps_of(BlockAnnealing(w=2, steps=2), mask) == [[0, None, 0, 1, None, 1]]


def test_block_one_step_and_one_per_step():
    assert steps_of(BlockAnnealing(w=2, steps=1), [[True] * 5]) == [[0] * 5]
    assert steps_of(BlockAnnealing(w=2, steps=None), [[True] * 5]) == [[0, 1, 2, 3, 4]]


def test_window_four_positions_width_two_four_steps():
    """n = 4, w = 2, T = 4: the cursor moves n - 1 + w = 5 in 4 steps, c = 1.25 t.
    E(c) = sum_q' clip((c - q') / 2, 0, 1):
      t=1, c=1.25: .625 + .125              = 0.75  -> nothing due (the step is skipped)
      t=2, c=2.5:  1 + .75 + .25            = 2.0   -> q0, q1
      t=3, c=3.75: 1 + 1 + .875 + .375      = 3.25  -> q2
      t=4, c=5:    4                               -> q3"""
    assert steps_of(SlidingWindow(w=2, steps=4), [[True] * 4]) == [[1, 1, 2, 3]]


def test_window_width_one_is_autoregressive():
    for n in (1, 3, 7):
        assert steps_of(SlidingWindow(w=1, steps=n), [[True] * n]) == [list(range(n))]


@pytest.mark.parametrize("n,w", [(1, 1), (4, 2), (7, 3), (9, 9), (5, 12)])
def test_window_with_n_minus_one_plus_w_steps_is_one_per_step(n, w):
    """The claim behind steps=None: with T = n - 1 + w the expected count grows by at most
    one per step, so the positions come one per step, left to right."""
    due = steps_of(SlidingWindow(w=w, steps=n - 1 + w), [[True] * n])[0]
    assert due == sorted(set(due))                 # strictly increasing: one per step
    assert steps_of(SlidingWindow(w=w, steps=None), [[True] * n])[0] == list(range(n))


def test_empty_steps_are_skipped_in_sampling():
    """Masks at 1, 4, 5, 9 (ranks 0..3) with the window above: due steps 1, 1, 2, 3, so three
    denoiser calls revealing {1, 4}, {5}, {9}."""
    tokens = torch.randint(1, 10, (1, 12), generator=torch.Generator().manual_seed(0))
    tokens[0, [1, 4, 5, 9]] = 0
    result = sample(ToyDenoiser(), SlidingWindow(w=2, steps=4), tokens)
    assert result.nfe.tolist() == [3]
    assert result.order[0, [1, 4, 5, 9]].tolist() == [0, 0, 1, 2]
