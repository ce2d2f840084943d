"""Conformance: Fast-dLLM's threshold and factor rules, with and without semi-AR blocks
(tests/oracles/fastdllm.py: NVlabs/Fast-dLLM @ 24cc59e, llada/generate.py). Whole trajectories
on seeded logits with confidences within 1e-7 of 1 and exact ties, batch 1 and 3 (Fast-dLLM's
loop is batch 1: the oracle runs row by row), prompts of lengths that are and are not multiples
of the block, Fast-dLLM's grid of tau and f. Documented differences (docs/conformance.md): the
factor rule's last-position quirk (the project follows the stated rule; the oracle's
`last_position_quirk=False`, and a test below shows where the quirk bites); exact ties to the
lowest index.
"""
from __future__ import annotations

import pytest
import torch

from conformance import BATCHES, MASK, SEEDS, assert_same, per_row, run_project, setting
from oracles import fastdllm
from planner.policies.factor import FactorRule
from planner.policies.threshold import ConfidenceThreshold

GEN = 16
TAUS = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1 - 1e-9]   # the last one splits the near-1 confidences
FACTORS = [0.5, 0.75, 1.0, 2.0, 1e-8]


@pytest.mark.parametrize("tau", TAUS)
@pytest.mark.parametrize("block_length", [None, 8, 4])
@pytest.mark.parametrize("prompt_length", [4, 5])
def test_threshold(tau, block_length, prompt_length):
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, prompt_length, GEN, seed)
            x, order, _, _ = per_row(fastdllm.generate, prompts, model=model, gen_length=GEN,
                                     block_length=block_length or GEN, mask_id=MASK, threshold=tau)
            policy = ConfidenceThreshold(tau=tau, block_length=block_length)
            assert_same(run_project(denoiser, policy, tokens), x, order,
                        f"threshold {tau} block {block_length} prompt {prompt_length} seed {seed}")


@pytest.mark.parametrize("f", FACTORS)
@pytest.mark.parametrize("block_length", [None, 8, 4])
@pytest.mark.parametrize("prompt_length", [4, 5])
def test_factor(f, block_length, prompt_length):
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, prompt_length, GEN, seed)
            x, order, _, _ = per_row(fastdllm.generate, prompts, model=model, gen_length=GEN,
                                     block_length=block_length or GEN, mask_id=MASK, factor=f,
                                     last_position_quirk=False)
            policy = FactorRule(f=f, block_length=block_length)
            assert_same(run_project(denoiser, policy, tokens), x, order,
                        f"factor {f} block {block_length} prompt {prompt_length} seed {seed}")


def test_factor_last_position_quirk_is_the_documented_difference():
    """Two masked positions, confidences .9 and .6, f = 1: thresholds -1 and 1 - 1/3 = .667.
    The stated rule takes 1 (.6 < .667); Fast-dLLM's code, whose first failure is at the last
    position (top_i = N - 1), takes both."""
    conf = torch.tensor([[0.9, 0.6]], dtype=torch.float64)
    masked = torch.ones(1, 2, dtype=torch.bool)
    assert fastdllm.factor_transfer(conf, masked, 1.0, last_position_quirk=True).sum() == 2
    assert fastdllm.factor_transfer(conf, masked, 1.0, last_position_quirk=False).sum() == 1
    from policy_fixtures import make_ctx, probs_with_confidence
    ctx = make_ctx(probs_with_confidence([0.9, 0.6]))
    assert FactorRule(f=1.0).select(ctx, None).chosen.sum() == 1
