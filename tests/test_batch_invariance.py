"""Batch invariance: a row's output is the same whether it is generated alone or in a batch of
64 rows of other prompt lengths (`planner.generate`), for every registered policy.

Two things make it hold. Padding: the denoiser attends to no padding position, and with right
padding a row keeps its absolute positions (learned position embeddings); a rotary model keeps
its relative ones on either side, so left padding is invariant for it too (but for what reads
absolute positions itself: a learned planner's network, blocks counted from position 0). Random
numbers:
`generate()` gives each row its own stream, seeded from `seed` and the row's prompt (or the
row's own entry of `seeds=`), so a random order, a remask draw or a sampled token does not
depend on the rows beside it. With one `generator=` for the batch (LLaDA's) it would, which is
why the stochastic policies are also shown to depend on their seed."""
from __future__ import annotations

import pytest
import torch

import planner
from denoiser.transformer import MDMConfig, MDMTransformer
from experiments import POLICY_CONFIGS  # noqa: F401  (registers every config)
from policy_fixtures import make_policy

VOCAB, MASK, GEN, BATCH = 10, 0, 10, 64   # the vocabulary of the configs (PC-sampler's f_bg)
# the policies whose choice draws random numbers at temperature 0 (the last: tokens="scheduler")
STOCHASTIC = ("random", "random_k", "remdm", "diffusers_entropy_bound", "genmd4")
ROWS = (0, 1, 2, 5, 17, 40, 63)


def denoiser(positions: str = "learned") -> MDMTransformer:
    torch.manual_seed(0)
    model = MDMTransformer(MDMConfig(vocab_size=VOCAB, mask_id=MASK, max_length=24, d_model=32,
                                     n_layers=2, n_heads=4, d_ff=64, positions=positions))
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


def run(name, rows, model=MODEL, **kw):
    policy = make_policy(name, model)
    bound = max(3 * GEN, getattr(policy, "steps", None) or 0)
    return planner.generate(model, rows, gen_length=GEN, policy=policy, max_nfe=bound, **kw)


def assert_alone_equals_batch(name, rows, model=MODEL, seeds=None, **kw):
    together = run(name, rows, model, seeds=seeds, **kw)
    assert len({len(r) for r in rows}) > 4 and together.padding.any()
    for i in ROWS:
        alone = run(name, [rows[i]], model, seeds=None if seeds is None else [seeds[i]], **kw)
        assert torch.equal(alone.tokens[0], together.tokens[i]), (
            f"{name}: row {i} (prompt length {len(rows[i])}) alone {alone.tokens[0].tolist()}, "
            f"in the batch {together.tokens[i].tolist()}")
        assert alone.nfe[0] == together.nfe[i], f"{name}: row {i} spent other calls in the batch"
    return together


@pytest.mark.parametrize("name", planner.policy_names())
def test_a_row_alone_equals_the_row_in_a_batch_of_64(name):
    assert_alone_equals_batch(name, prompts())


@pytest.mark.parametrize("name", ["topk_margin", "random_k", "remdm", "semi_ar", "backtrack"])
def test_sampled_tokens_are_invariant_with_per_row_seeds(name):
    """At a temperature every token is drawn, from the row's stream: its seeds= entry."""
    seeds = [1000 + 7 * i for i in range(BATCH)]
    assert_alone_equals_batch(name, prompts(), seeds=seeds, temperature=1.0)


def coin_remasker():
    """A remasking planner whose network says 1/2 everywhere: its remasks are coin flips."""
    from vi.remask_policy import RemaskPlanner
    return RemaskPlanner(lambda features, ctx: torch.zeros(features.shape[:2]), "factor", {},
                         sample=True, max_nfe=3 * GEN)


@pytest.mark.parametrize("which", ["learned_sample", "remask_sample"])
def test_the_learned_planners_draws_are_invariant_with_per_row_seeds(which):
    """The planner network's sampled sets (mode=sample) and a remasking network's sampled
    remasks draw from the row's stream too."""
    rows = prompts()
    policy = (make_policy("learned", MODEL, mode="sample") if which == "learned_sample"
              else coin_remasker())
    kw = dict(gen_length=GEN, policy=policy, max_nfe=3 * GEN)
    together = planner.generate(MODEL, rows, **kw)
    for i in ROWS:
        alone = planner.generate(MODEL, [rows[i]], **kw)
        assert torch.equal(alone.tokens[0], together.tokens[i]), f"{which}: row {i}"
        assert alone.nfe[0] == together.nfe[i]
    other = planner.generate(MODEL, rows, seed=1, **kw)
    assert not torch.equal(other.sample.order, together.sample.order), f"{which} ignores the seed"


@pytest.mark.parametrize("name", STOCHASTIC)
def test_the_stochastic_policies_depend_on_the_seed(name):
    rows = prompts()[:8]
    a, b = run(name, rows, seed=0), run(name, rows, seed=1)
    assert not torch.equal(a.tokens, b.tokens), f"{name} does not depend on the seed"
    again = run(name, rows, seed=0)
    assert torch.equal(a.tokens, again.tokens), f"{name}: the same seed gave another output"
    explicit = run(name, rows, seeds=list(range(8)))
    assert not torch.equal(a.tokens, explicit.tokens), f"{name} ignores seeds="


def test_one_generator_for_the_batch_is_not_invariant():
    """The old single stream (LLaDA's): a random order depends on the rows beside the row."""
    rows = prompts()
    together = run("random_k", rows, generator=torch.Generator().manual_seed(0))
    alone = [run("random_k", [rows[i]], generator=torch.Generator().manual_seed(0)).tokens[0]
             for i in ROWS]
    assert not all(torch.equal(a, together.tokens[i]) for a, i in zip(alone, ROWS))


def test_left_padding_keeps_relative_but_not_absolute_positions():
    """The project's transformer with learned absolute positions: left padding moves a row's
    positions, so only right padding is invariant for it."""
    rows = prompts()[:8]
    right = planner.generate(MODEL, rows, gen_length=GEN)
    left = planner.generate(MODEL, rows, gen_length=GEN, padding_side="left")
    assert right.padding[:, -1].any() and left.padding[:, 0].any()
    assert not torch.equal(right.tokens, left.tokens)


ROTARY = denoiser("rotary")
# left padding moves what these read by absolute position: the learned planners' own position
# embeddings, and semi_ar's blocks counted from position 0 (block_origin "sequence", the
# Sudoku rows; run below with the blocks of the generated region, as generate() sets them)
ABSOLUTE = {n for n in planner.policy_names() if n.startswith("learned")}


def run_rotary(name, rows, **kw):
    knobs = {"block_origin": "generated"} if name == "semi_ar" else {}
    policy = make_policy(name, ROTARY, **knobs)
    bound = max(3 * GEN, getattr(policy, "steps", None) or 0)
    return planner.generate(ROTARY, rows, gen_length=GEN, policy=policy, max_nfe=bound,
                            padding_side="left", **kw)


@pytest.mark.parametrize("name", [n for n in planner.policy_names() if n not in ABSOLUTE])
def test_a_rotary_model_is_invariant_with_left_padding(name):
    """Rotary positions see relative offsets only, so a left-padded row is the row alone."""
    rows = prompts()
    together = run_rotary(name, rows)
    assert together.padding[:, 0].any() and not together.padding[:, -1].any()
    for i in ROWS:
        alone = run_rotary(name, [rows[i]])
        assert torch.equal(alone.tokens[0], together.tokens[i]), (
            f"{name}: row {i} (prompt length {len(rows[i])}) alone {alone.tokens[0].tolist()}, "
            f"left-padded in the batch {together.tokens[i].tolist()}")
        assert alone.nfe[0] == together.nfe[i]


def test_left_padding_moves_what_a_learned_planner_reads():
    """The exception above, shown: the planner network's own absolute positions move."""
    rows = prompts()
    together = run_rotary("learned", rows)
    assert not all(torch.equal(run_rotary("learned", [rows[i]]).tokens[0], together.tokens[i])
                   for i in ROWS)


def test_bad_padding_is_refused():
    tokens = torch.tensor([[3, 0, 0, 5]])
    with pytest.raises(ValueError, match="a padding position holds the mask id 0"):
        planner.sample(MODEL, "threshold", tokens, padding=torch.tensor([[False, False, True, True]]))
    with pytest.raises(ValueError, match=r"padding has shape \(1, 3\); expected the tokens' \(1, 4\)"):
        planner.sample(MODEL, "threshold", tokens, padding=torch.zeros(1, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="padding must be a bool tensor"):
        planner.sample(MODEL, "threshold", tokens, padding=torch.zeros(1, 4))


def test_generator_and_seeds_together_are_refused():
    with pytest.raises(ValueError, match="generator= .* or seeds= .*not both"):
        planner.generate(MODEL, [[1, 2]], gen_length=4, seeds=[0],
                         generator=torch.Generator().manual_seed(0))
