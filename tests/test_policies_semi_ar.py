"""Semi-autoregressive blocks: the current block is the left-most one still holding a mask."""
from __future__ import annotations

import torch

from planner import sample
from planner.policies.semi_ar import SemiAutoregressive
from policy_fixtures import ToyDenoiser, make_ctx, probs_with_confidence

# confidences at positions 0..5 (blocks of 3: {0,1,2} and {3,4,5})
CONF = [0.99, 0.6, 0.7, 0.8, 0.95, 0.9]


def step(policy, state, masked, step_count):
    ctx = make_ctx(probs_with_confidence(CONF), masked=torch.tensor([masked]),
                   initial_masked=torch.tensor([[False] + [True] * 5]), step=torch.tensor([step_count]))
    return set(torch.nonzero(policy.select(ctx, state).chosen[0]).squeeze(1).tolist())


def test_block_restriction_and_llada_budget():
    """Position 0 is a given. T = 4 over two blocks: two steps each. Block 0 holds masks at 1
    (.6) and 2 (.7): k = ceil(2/2) = 1 each step, though positions 4 (.95) and 5 (.9) are more
    confident. Then block 1, three masks over two steps: k = ceil(3/2) = 2, then 1."""
    policy = SemiAutoregressive(block_length=3, score="confidence", steps=4, block_origin="sequence")
    state = policy.init_state(torch.tensor([[False] + [True] * 5]), None)
    assert state.allotted.tolist() == [[2, 2]]
    assert step(policy, state, [False, True, True, True, True, True], 0) == {2}
    assert step(policy, state, [False, True, False, True, True, True], 1) == {1}
    assert step(policy, state, [False, False, False, True, True, True], 2) == {4, 5}
    assert step(policy, state, [False, False, False, True, False, False], 3) == {3}


def test_steps_split_over_blocks_with_masks_only():
    """Blocks of 2 over 8 positions; row 0 has masks in blocks 0, 1, 3 (not 2): T = 5 gives
    2, 2, 0, 1 (the remainder to the first blocks); row 1 only in block 2: all 5 steps."""
    mask = torch.tensor([[True, False, True, True, False, False, False, True],
                         [False, False, False, False, True, True, False, False]])
    state = SemiAutoregressive(block_length=2, steps=5, block_origin="sequence").init_state(mask, None)
    assert state.allotted.tolist() == [[2, 2, 0, 1], [0, 0, 5, 0]]


def test_sampling_goes_block_by_block():
    """Length 12, blocks of 4, T = 6: two steps per block, a fully masked block reveals 2 + 2."""
    tokens = torch.zeros(2, 12, dtype=torch.long)
    tokens[1, [0, 5, 6]] = 3           # givens in row 1
    result = sample(ToyDenoiser(), SemiAutoregressive(block_length=4, steps=6, block_origin="sequence"), tokens)
    for row in range(2):
        order = result.order[row]
        for b in range(3):
            block = order[4 * b: 4 * b + 4]
            block = block[block >= 0]
            assert set(block.tolist()) <= {2 * b, 2 * b + 1}
    assert torch.bincount(result.order[0]).tolist() == [2] * 6
    assert result.nfe.tolist() == [6, 6]


def test_one_per_step_inside_the_block():
    tokens = torch.zeros(1, 12, dtype=torch.long)
    result = sample(ToyDenoiser(), SemiAutoregressive(block_length=4, score="margin"), tokens)
    assert result.nfe.tolist() == [12]
    order = result.order[0]
    for b in range(3):
        assert sorted(order[4 * b: 4 * b + 4].tolist()) == list(range(4 * b, 4 * b + 4))
