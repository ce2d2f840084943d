"""The learned policy's ranked mode (issue 17): the planner's highest-logit cells on an even
schedule of exactly `steps` calls, one cell per step without `steps`; and a singleton-family
planner reveals one cell per step in its deterministic mode."""
import pytest
import torch

import planner
import vi  # noqa: F401  (registers `learned`)
from denoiser import load_denoiser
from tasks.paths import resolve_data_path
from tasks.sudoku import load_sudoku_csv
from vi.features import DenoiserSummary, OrderState
from vi.networks import PriorNet
from vi.policy import LearnedPlanner


@pytest.fixture(scope="module")
def puzzles():
    return load_sudoku_csv(resolve_data_path("sudoku/rrn_style_valid_18000.csv"), limit=6).puzzles


@pytest.fixture(scope="module")
def denoiser():
    return load_denoiser("weights/sudoku-mdm")


@pytest.mark.parametrize("steps", [4, 7])
def test_ranked_mode_spends_exactly_its_steps(denoiser, puzzles, steps):
    result = planner.sample(denoiser, planner.load_policy("learned", mode="ranked", steps=steps),
                            puzzles)
    assert (result.nfe == steps).all()
    assert (result.tokens != 0).all()


def test_ranked_mode_without_steps_reveals_one_cell_per_step(denoiser, puzzles):
    result = planner.sample(denoiser, planner.load_policy("learned", mode="ranked"), puzzles)
    assert torch.equal(result.nfe, (puzzles == 0).sum(-1))


def test_ranked_mode_follows_the_logits(denoiser, puzzles):
    """Its first step reveals the highest-logit cells of the deterministic planner's view."""
    seen = []
    planner.sample(denoiser, planner.load_policy("learned", mode="ranked", steps=5), puzzles[:1],
                   callbacks=[seen.append])
    selection = seen[0].selection
    scores = selection.scores[0].masked_fill(puzzles[0] != 0, float("-inf"))
    k = int(selection.chosen[0].sum())
    assert k == -(-int((puzzles[0] == 0).sum()) // 5)
    assert set(selection.chosen[0].nonzero().squeeze(1).tolist()) == set(scores.topk(k).indices.tolist())


def test_steps_needs_ranked_mode():
    with pytest.raises(ValueError, match="steps=4 is the schedule of mode='ranked', got mode='deterministic'"):
        planner.load_policy("learned", steps=4)
    with pytest.raises(ValueError, match="steps must be None or a positive integer.*0"):
        planner.load_policy("learned", mode="ranked", steps=0)


def test_a_singleton_planner_reveals_one_cell_per_step():
    prior = PriorNet(4, 5, d_model=8, n_layers=1, n_heads=2, family="singleton")
    masked = torch.tensor([[True, True, False, True, True]])
    summary = DenoiserSummary(confidence=torch.full((1, 5), 0.99), margin=torch.full((1, 5), 0.9),
                              entropy=torch.zeros(1, 5), argmax=torch.ones(1, 5, dtype=torch.long))
    state = OrderState(tokens=torch.where(masked, 3, 1), masked=masked, initial_masked=masked,
                       denoised=summary, beta=torch.zeros(1))
    dist = prior.distribution(state)
    assert int(dist.deterministic(0.01).sum()) == 1          # whatever the threshold
    with pytest.raises(ValueError, match="family must be one of .*'pairs'"):
        PriorNet(4, 5, family="pairs")
    with pytest.raises(ValueError, match="excludes sample=True"):
        LearnedPlanner(prior, sample=True, ranked=True)
