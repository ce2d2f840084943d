"""The shipped Sudoku denoiser: it loads on the CPU, every policy keeps the givens and fills
every blank with it, and it still solves easy validation puzzles."""
import pytest
import torch

from denoiser import FrozenDenoiser, MDMTransformer
from planner import load_policy, policy_names, sample
from tasks.sudoku import LENGTH, MASK_ID, VOCAB_SIZE, is_solved, load_sudoku_csv

from conftest import SHIPPED_SUDOKU


@pytest.fixture(scope="module")
def shipped():
    model = MDMTransformer.from_pretrained(SHIPPED_SUDOKU, vocab_size=VOCAB_SIZE,
                                           max_length=LENGTH, mask_id=MASK_ID)
    return FrozenDenoiser(model)


@pytest.fixture(scope="module")
def validation(data_dir):
    return load_sudoku_csv(data_dir / "sudoku" / "rrn_style_valid_18000.csv")


def test_shipped_weights_are_small_and_load(shipped):
    size = sum(p.stat().st_size for p in SHIPPED_SUDOKU.iterdir())
    assert size < 25 * 2**20
    assert shipped.vocab_size == 10 and shipped.mask_id == 0


@pytest.fixture(scope="module")
def shipped_genmd4():
    """The shipped MDM fine-tuned with GenMD4's learned schedule (docs/results/genmd4.md)."""
    return FrozenDenoiser(MDMTransformer.from_pretrained(SHIPPED_SUDOKU.parent / "sudoku-mdm-genmd4"))


# every policy but the few-step text planner, whose weights are the text MDM's
# (tests/test_shipped_text_v2.py runs it there)
SUDOKU_POLICIES = [name for name in policy_names() if name != "learned_text_fewstep"]


@pytest.mark.parametrize("name", SUDOKU_POLICIES)
def test_every_policy_keeps_givens_and_fills_every_blank(shipped, shipped_genmd4, validation, name):
    idx = torch.arange(0, 18000, 18000 // 12)
    puzzles = validation.puzzles[idx]
    policy = load_policy(name)
    den = shipped_genmd4 if name == "genmd4" else shipped   # it follows a learned schedule
    result = sample(den, policy, puzzles, generator=torch.Generator().manual_seed(0))
    given = puzzles != MASK_ID
    assert torch.equal(result.tokens[given], puzzles[given])
    assert not (result.tokens == MASK_ID).any()
    assert ((result.tokens >= 1) & (result.tokens <= 9)).all()
    assert torch.equal(result.order == -1, given)
    # a one-pass policy reveals at least one cell a call; a revising one keeps its own bound
    bound = policy.max_nfe if policy.revises else (~given).sum(1)
    assert (result.nfe >= 1).all() and (result.nfe <= bound).all()


def test_shipped_denoiser_solves_easy_validation_puzzles(shipped, validation):
    # 64 puzzles with 31 or more givens (the shipped model solved all 801 such puzzles of a
    # 3,600-puzzle spread of this file)
    easy = torch.tensor([int(g) >= 31 for g in validation.extra["givens"]])
    puzzles = validation.puzzles[easy][:64]
    result = sample(shipped, "topk_margin", puzzles)
    assert is_solved(result.tokens, puzzles).float().mean() >= 0.95
