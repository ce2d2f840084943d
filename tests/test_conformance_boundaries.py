"""The documented choices at the rules' boundaries (docs/conformance.md): the ranking precision
and tie rule, the threshold and factor rules at equality, the PC-sampler at a tied top-2, and
the confidence of the sampled token at temperature > 0 (against LLaDA's loop, same noise)."""
from __future__ import annotations

import pytest
import torch

from conformance import MASK, assert_same, setting
from oracles import llada
from planner import sample
from planner.policies.factor import FactorBudget
from planner.policies.pc import PCSampler
from planner.policies.semi_ar import SemiAutoregressive
from planner.policies.threshold import ConfidenceAbove, ConfidenceThreshold
from planner.policies.topk_prob import TopKProbability
from policy_fixtures import NearOneDenoiser, make_ctx


def logits_ctx(logits, generator=None, temperature=0.0):
    from planner.context import StepContext
    logits = torch.as_tensor(logits, dtype=torch.float32)
    batch, length, _ = logits.shape
    masked = torch.ones(batch, length, dtype=torch.bool)
    return StepContext(logits=logits, tokens=torch.zeros(batch, length, dtype=torch.long), masked=masked,
                       initial_masked=masked.clone(), step=torch.zeros(batch, dtype=torch.long),
                       rows=torch.arange(batch), generator=generator, temperature=temperature)


def test_confidences_near_one_keep_their_order():
    """Top-logit gaps of 20 and 21: 1 - p = 2.1e-9 and 7.6e-10, both 1.0 in float32. The
    project ranks in float64, so the second (the more confident) is taken first, not the first
    by index as a float32 tie would."""
    logits = torch.full((1, 2, 4), -30.0)
    logits[0, :, 0] = float("-inf")
    logits[0, 0, 1], logits[0, 1, 2] = 20.0, 21.0
    logits[0, 0, 2:] = 0.0
    logits[0, 1, [1, 3]] = 0.0
    ctx = logits_ctx(logits)
    assert torch.softmax(logits, -1).max(-1).values.eq(1.0).all()           # float32 ties
    chosen = TopKProbability(steps=2).select(ctx, None).chosen
    assert chosen[0].tolist() == [False, True]


def test_exact_ties_go_to_the_lowest_index():
    probs = torch.tensor([[[0, .5, .3, .2], [0, .7, .2, .1], [0, .7, .2, .1], [0, .7, .2, .1]]])
    chosen = TopKProbability(steps=2).select(make_ctx(probs), None).chosen
    assert chosen[0].tolist() == [False, True, True, False]


@pytest.mark.parametrize("inclusive,expected", [(True, [True, True, False]), (False, [True, False, False])])
def test_threshold_at_equality(inclusive, expected):
    """c = tau exactly: Fast-dLLM keeps it (c >= tau, the default), diffusers drops it."""
    scores = torch.tensor([[0.95, 0.9, 0.5]], dtype=torch.float64)
    masked = torch.ones(1, 3, dtype=torch.bool)
    ctx = make_ctx(torch.full((1, 3, 4), 0.25), masked=masked)
    k = ConfidenceAbove(0.9, inclusive)(ctx, scores, torch.argsort(scores, descending=True))
    assert k.tolist() == [sum(expected)]


def test_factor_at_equality_keeps_the_position():
    """c(3) = 0.75 = 1 - f/(3 + 1) at f = 1: kept, as Fast-dLLM's `c < threshold` breaks."""
    scores = torch.tensor([[0.9, 0.8, 0.75, 0.1]], dtype=torch.float64)
    ctx = make_ctx(torch.full((1, 4, 4), 0.25))
    ranked = torch.argsort(scores, descending=True)
    assert FactorBudget(1.0)(ctx, scores, ranked).tolist() == [3]
    assert FactorBudget(0.999)(ctx, scores, ranked).tolist() == [2]


def test_pc_scores_the_token_it_writes_at_a_tied_top_2():
    """Tokens 1 and 2 tie at .45 with different background frequencies: the score's f_bg is
    that of the token the loop writes (the greedy argmax), so score and token agree."""
    freq = [1e-6, 0.5, 0.01, 0.49 - 1e-6]
    probs = torch.tensor([[[0, .45, .45, .1], [0, .3, .6, .1]]])
    ctx = make_ctx(probs)
    policy = PCSampler(lam=0.0, alpha=10.0, frequency=freq)
    scores = policy.select(ctx, None).scores
    written = ctx.drawn
    p = torch.softmax(ctx.logits.double(), -1).gather(-1, written[..., None])[..., 0]
    f = torch.tensor(freq, dtype=torch.float64)[written] + 1e-9
    assert torch.allclose(scores, -p * f.log())


@pytest.mark.parametrize("block_length,steps", [(16, 16), (8, 16), (4, 8), (16, 8)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_token_confidence_at_temperature_one(block_length, steps, seed):
    """LLaDA at temperature 1 ranks the probability of the sampled token; with the same
    uniform noise (LLaDA's exp(l) / (-log u)^T is Gumbel-max) the project's default
    `confidence="sampled"` reveals the same positions with the same tokens."""
    denoiser, model, prompts, tokens = setting(1, 5, 16, seed)
    x, rec = llada.llada_blocks(model, prompts, steps=steps, gen_length=16, block_length=block_length,
                                mask_id=MASK, score=llada.low_confidence(), temperature=1.0,
                                generator=torch.Generator().manual_seed(seed))
    policy = SemiAutoregressive(block_length=block_length, steps=steps)
    result = sample(denoiser, policy, tokens, temperature=1.0, generator=torch.Generator().manual_seed(seed))
    assert_same(result, x, rec.dense(), f"LLaDA at temperature 1, block {block_length} steps {steps}")


def test_top_confidence_differs_from_the_references_when_sampling():
    """`confidence="top"` ranks p(v1) whatever was sampled: at temperature > 0 it is not the
    references' rule (the default is)."""
    differ = 0
    for seed in range(4):
        denoiser, model, prompts, tokens = setting(1, 5, 16, seed)
        run = lambda conf: sample(denoiser, ConfidenceThreshold(tau=0.9, confidence=conf), tokens,
                                  temperature=1.5, generator=torch.Generator().manual_seed(seed)).order
        differ += not torch.equal(run("top"), run("sampled"))
    assert differ > 0
