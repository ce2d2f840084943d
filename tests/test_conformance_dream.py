"""Conformance: Dream's step schedule with its maskgit_plus, topk_margin and entropy algorithms
(tests/oracles/dream.py: Dream's generation_utils.py as copied in NVlabs/Fast-dLLM @ 24cc59e).
Whole trajectories on seeded logits with confidences within 1e-7 of 1 and exact ties, batch 1
and 3 (rows of equal masked counts, where Dream's batch-mean count is each row's), prompts of
several lengths, step counts below, at and above the number of masks (steps that unmask nothing,
which cost a call in both). Documented differences (docs/conformance.md): float64 ranking
(Dream float32), the exact entropy (Dream adds 1e-10 inside the log), exact ties to the lowest
index, per-row masked counts (Dream: the batch mean).
"""
from __future__ import annotations

import pytest
import torch

from conformance import BATCHES, MASK, SEEDS, assert_same, run_project, setting
from planner import sample
from oracles import dream
from planner.policies.entropy import LowestEntropy
from planner.policies.topk_margin import TopKMargin
from planner.policies.topk_prob import TopKProbability

GEN = 16
POLICIES = {"maskgit_plus": TopKProbability, "topk_margin": TopKMargin, "entropy": LowestEntropy}


@pytest.mark.parametrize("alg", sorted(POLICIES))
@pytest.mark.parametrize("steps", [1, 4, 5, 8, 16, 32])
@pytest.mark.parametrize("eps", [1e-3, 1e-2])
@pytest.mark.parametrize("prompt_length", [3, 8])
def test_dream_schedule(alg, steps, eps, prompt_length):
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, prompt_length, GEN, seed)
            x, rec = dream.sample(model, tokens, steps=steps, eps=eps, alg=alg, mask_id=MASK)
            policy = POLICIES[alg](steps=steps, schedule="dream", eps=eps)
            result = run_project(denoiser, policy, tokens)
            assert_same(result, x, rec.order, f"Dream {alg} steps {steps} eps {eps} seed {seed}")
            assert result.nfe.tolist() == [steps] * batch        # empty steps cost their call


def test_dream_schedule_has_empty_steps_and_the_remainder_at_the_end():
    """16 masks over 32 steps: int(n (1 - s/t)) is 0 at most steps, and the last takes the rest."""
    denoiser, model, prompts, tokens = setting(1, 3, GEN, 0)
    policy = TopKProbability(steps=32, schedule="dream")
    assert policy.allows_empty_steps and policy.max_nfe == 32        # T calls exactly
    assert not TopKProbability(steps=32).allows_empty_steps and TopKProbability(steps=32).max_nfe is None
    result = run_project(denoiser, policy, tokens)
    counts = torch.bincount(result.order[0][3:], minlength=32).tolist()
    assert 0 in counts and sum(counts) == GEN and counts[-1] > 0


def test_alg_temp_draws_positions_from_the_softmax_of_the_confidence():
    """alg_temp > 0: the first position is drawn with probability softmax(conf / alg_temp)
    over the masked positions (Dream's multinomial; a different random stream, the same law)."""
    from policy_fixtures import make_ctx, probs_with_confidence
    conf = [0.9, 0.6, 0.8, 0.5]
    policy = TopKProbability(steps=4, alg_temp=0.1)
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(4)
    trials = 4000
    for _ in range(trials):
        ctx = make_ctx(probs_with_confidence(conf), generator=g)
        counts += policy.select(ctx, None).chosen[0].float()
    expected = torch.softmax(torch.tensor(conf, dtype=torch.float64) / 0.1, 0) * trials
    assert torch.allclose(counts.double(), expected, rtol=0.1, atol=30)


@pytest.mark.parametrize("alg", sorted(POLICIES))
@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("top_p,top_k", [(None, None), (0.95, None), (0.9, None), (None, 3), (0.95, 3)])
def test_dream_tempered_filtered_distribution(alg, temperature, top_p, top_k):
    """distribution="sampling": Dream's scores on softmax(filter(logits / T)), the confidence of
    the sampled token, tokens drawn from that distribution (top-p also changes the ranking when
    greedy: the kept probabilities are renormalised)."""
    for seed in SEEDS:
        denoiser, model, prompts, tokens = setting(3, 5, GEN, seed)
        x, rec = dream.sample(model, tokens, steps=8, alg=alg, mask_id=MASK, temperature=temperature,
                              top_p=top_p, top_k=top_k, generator=torch.Generator().manual_seed(seed))
        policy = POLICIES[alg](steps=8, schedule="dream", distribution="sampling", top_p=top_p, top_k=top_k)
        result = sample(denoiser, policy, tokens, temperature=temperature,
                        generator=torch.Generator().manual_seed(seed))
        assert_same(result, x, rec.order, f"Dream {alg} T {temperature} top_p {top_p} top_k {top_k}")
