"""Batch invariance: a row's greedy output is the same whether it is generated alone or in a
batch of 64 rows of other prompt lengths (right padding, `planner.generate`), for every policy
whose choice reads only the denoiser's outputs. The policies that draw random numbers from the
call's generator (a random order, random remasking) cannot be: the stream each row sees depends
on the rows beside it; the test shows they depend on the seed, which is why."""
from __future__ import annotations

import pytest
import torch

import planner
from denoiser.transformer import MDMConfig, MDMTransformer
from experiments import POLICY_CONFIGS  # noqa: F401  (registers every config)
from policy_fixtures import make_policy

VOCAB, MASK, GEN, BATCH = 10, 0, 10, 64   # the vocabulary of the configs (PC-sampler's f_bg)
# policies whose greedy choice reads the generator: not batch invariant (docs/usage.md)
RANDOM = {"random", "random_k", "remdm", "diffusers_entropy_bound", "genmd4"}   # the last: tokens="scheduler"


def denoiser() -> MDMTransformer:
    torch.manual_seed(0)
    model = MDMTransformer(MDMConfig(vocab_size=VOCAB, mask_id=MASK, max_length=24, d_model=32,
                                     n_layers=2, n_heads=4, d_ff=64))
    with torch.no_grad():          # peaked predictions, so the rules take varied decisions
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.6)
    return model.eval()


MODEL = denoiser()


def prompts() -> list[list[int]]:
    g = torch.Generator().manual_seed(1)
    lengths = torch.randint(1, 9, (BATCH,), generator=g)
    return [torch.randint(1, VOCAB, (int(n),), generator=g).tolist() for n in lengths]


def run(name, rows, seed=0):
    policy = make_policy(name, MODEL)
    bound = max(3 * GEN, getattr(policy, "steps", None) or 0)
    return planner.generate(MODEL, rows, gen_length=GEN, policy=policy, max_nfe=bound,
                            generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", [n for n in planner.policy_names() if n not in RANDOM])
def test_a_row_alone_equals_the_row_in_a_batch_of_64(name):
    rows = prompts()
    together = run(name, rows)
    assert len({len(r) for r in rows}) > 4 and together.padding.any()
    for i in (0, 1, 2, 5, 17, 40, 63):
        alone = run(name, [rows[i]])
        assert torch.equal(alone.tokens[0], together.tokens[i]), (
            f"{name}: row {i} (prompt length {len(rows[i])}) alone {alone.tokens[0].tolist()}, "
            f"in the batch {together.tokens[i].tolist()}")
        assert alone.nfe[0] == together.nfe[i], f"{name}: row {i} spent other calls in the batch"


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_the_exceptions_read_the_generator(name):
    rows = prompts()[:8]
    a, b = run(name, rows, seed=0), run(name, rows, seed=1)
    assert not torch.equal(a.tokens, b.tokens), f"{name} does not depend on the seed: list it as invariant"


def test_left_padding_keeps_relative_but_not_absolute_positions():
    """The project's transformer has absolute positions: left padding moves a row's positions,
    so only right padding is invariant for it (a rotary model such as LLaDA takes either)."""
    rows = prompts()[:8]
    right = planner.generate(MODEL, rows, gen_length=GEN)
    left = planner.generate(MODEL, rows, gen_length=GEN, padding_side="left")
    assert right.padding[:, -1].any() and left.padding[:, 0].any()
    assert not torch.equal(right.tokens, left.tokens)


def test_bad_padding_is_refused():
    tokens = torch.tensor([[3, 0, 0, 5]])
    with pytest.raises(ValueError, match="a padding position holds the mask id 0"):
        planner.sample(MODEL, "threshold", tokens, padding=torch.tensor([[False, False, True, True]]))
    with pytest.raises(ValueError, match=r"padding has shape \(1, 3\); expected the tokens' \(1, 4\)"):
        planner.sample(MODEL, "threshold", tokens, padding=torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="padding must be a bool tensor"):
        planner.sample(MODEL, "threshold", tokens, padding=torch.zeros(1, 4))
