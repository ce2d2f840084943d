"""The pooling mixer of the planner networks: which positions each group mean reads."""
import pytest
import torch

from vi import OrderState, PriorNet
from vi.features import DenoiserSummary
from vi.mixers import WINDOW, PoolEncoder, pool_matrices


def test_sudoku_pools_average_row_column_box_and_grid():
    pools = pool_matrices("sudoku", 81)
    assert pools.shape == (4, 81, 81)
    assert torch.allclose(pools.sum(-1), torch.ones(4, 81))
    cell = 4 * 9 + 4                                   # the centre cell, row 4 column 4 box 4
    row, col, box, grid = (set(torch.nonzero(p[cell]).squeeze(1).tolist()) for p in pools)
    assert row == set(range(36, 45))
    assert col == set(range(4, 81, 9))
    assert box == {30, 31, 32, 39, 40, 41, 48, 49, 50}
    assert grid == set(range(81))


def test_sequence_pools_average_a_window_and_the_sequence():
    pools = pool_matrices("sequence", 20)
    assert torch.allclose(pools.sum(-1), torch.ones(2, 20))
    assert set(torch.nonzero(pools[0, 0]).squeeze(1).tolist()) == set(range(WINDOW + 1))
    assert set(torch.nonzero(pools[0, 10]).squeeze(1).tolist()) == set(range(10 - WINDOW, 11 + WINDOW))
    assert torch.allclose(pools[1], torch.full((20, 20), 1 / 20))


def test_pool_encoder_mixes_only_within_groups():
    """A change at one cell moves the first block's output only in the cells that share a
    group with it: with the grid mean in the groups that is every cell, so check the grid
    mean's absence: a sequence window of 4 reaches at most 4 positions per block."""
    torch.manual_seed(0)
    enc = PoolEncoder(8, 16, 1, "sequence")
    with torch.no_grad():
        enc.blocks[0].mix.weight[:, 8:] = 0           # drop the whole-sequence mean
    h = torch.randn(1, 30, 8)
    h2 = h.clone()
    h2[0, 15] += torch.randn(8)                      # (a constant shift would vanish in LayerNorm)
    moved = (enc(h) - enc(h2)).abs().sum(-1)[0] > 1e-4
    assert set(torch.nonzero(moved).squeeze(1).tolist()) == set(range(15 - WINDOW, 16 + WINDOW))


def test_pool_mixer_network_and_bad_mixer():
    b, n = 2, 81
    c = torch.rand(b, n)
    masked = torch.rand(b, n) < 0.5
    state = OrderState(tokens=torch.where(masked, 10, 1), masked=masked, initial_masked=masked,
                       denoised=DenoiserSummary(confidence=c, margin=c / 2, entropy=1 - c,
                                                argmax=torch.randint(1, 10, (b, n))),
                       beta=torch.ones(b))
    net = PriorNet(11, 81, structure="sudoku", mixer="pool", beta_conditioned=True, n_heads=3)
    assert net(state).shape == (b, n)               # n_heads is not read by the pool mixer
    with pytest.raises(ValueError, match="mixer must be one of"):
        PriorNet(11, 81, mixer="conv")
