"""Conformance: LLaDA's low-confidence remasking with prompt-relative semi-AR blocks, and the
PC-sampler, margin, entropy and EB rules as PC-sampler's code runs them (tests/oracles/llada.py:
ML-GSAI/LLaDA @ b7e6c35, NEUIR/PC-Sampler @ 8b106b0). Whole trajectories on seeded logits with
confidences within 1e-7 of 1 and exact ties, batch sizes 1 and 3, prompts of lengths that are
and are not multiples of the block. Documented differences (docs/conformance.md): LLaDA spends
a call on a step with k = 0, the project does not (compared on reveal order with those calls
dropped, `Recorder.dense`); the references rank in the model's dtype, the oracles as the
project in float64; exact ties go to the lowest index; PC-sampler's f_bg + 1e-9 is the
project's `eps` default.
"""
from __future__ import annotations

import pytest
import torch

from conformance import BATCHES, MASK, SEEDS, assert_same, run_project, setting
from oracles import llada
from planner.policies.eb import EBSampler
from planner.policies.entropy import LowestEntropy
from planner.policies.pc import PCSampler
from planner.policies.semi_ar import SemiAutoregressive
from planner.policies.topk_margin import TopKMargin
from planner.policies.topk_prob import TopKProbability

GEN = 16
# (block_length, steps): one block and semi-AR blocks; steps = gen (one per step), fewer, and
# more steps per block than a block has masks (LLaDA's k = 0 calls)
LLADA_GRID = [(16, 16), (16, 4), (8, 16), (8, 4), (4, 8), (4, 16), (8, 32)]


def llada_run(model, prompts, score, block_length, steps):
    x, rec = llada.llada_blocks(model, prompts, steps=steps, gen_length=GEN, block_length=block_length,
                                mask_id=MASK, score=score)
    return x, rec.dense()


@pytest.mark.parametrize("block_length,steps", LLADA_GRID)
@pytest.mark.parametrize("prompt_length", [4, 5, 8])
def test_llada_low_confidence_semi_ar(block_length, steps, prompt_length):
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, prompt_length, GEN, seed)
            x, order = llada_run(model, prompts, llada.low_confidence(), block_length, steps)
            policy = SemiAutoregressive(block_length=block_length, score="confidence", steps=steps)
            assert_same(run_project(denoiser, policy, tokens), x, order,
                        f"LLaDA block {block_length} steps {steps} prompt {prompt_length} seed {seed}")


def test_llada_issue_example_transfers_four_per_step():
    """The issue's case: prompt 4, gen 16, block 8, 4 steps: LLaDA transfers [4, 4, 4, 4]."""
    denoiser, model, prompts, tokens = setting(1, 4, GEN, 0)
    result = run_project(denoiser, SemiAutoregressive(block_length=8, steps=4), tokens)
    assert torch.bincount(result.order[0][4:]).tolist() == [4, 4, 4, 4]


@pytest.mark.parametrize("steps", [16, 8, 4])
def test_topk_prob_is_llada_with_one_block(steps):
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, 5, GEN, seed)
            x, order = llada_run(model, prompts, llada.low_confidence(), GEN, steps)
            assert_same(run_project(denoiser, TopKProbability(steps=steps), tokens), x, order,
                        f"top-k probability steps {steps} seed {seed}")


@pytest.mark.parametrize("name,policy_cls,oracle_score", [
    ("margin", TopKMargin, llada.margin()), ("entropy", LowestEntropy, llada.neg_entropy())])
@pytest.mark.parametrize("steps", [16, 8, 4])
def test_margin_and_entropy_as_pc_sampler_runs_them(name, policy_cls, oracle_score, steps):
    """One block only: PC-sampler's generate_with_margin / _entropy overwrite the block
    restriction (their x0_p is recomputed after `x0_p[:, block_end:] = -inf`), so with blocks
    they rank the whole generated region; the project's semi_ar with margin or entropy keeps
    the block. entropy_eps = 0: PC-sampler adds 1e-12 inside the log (documented)."""
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, 5, GEN, seed)
            x, order = llada_run(model, prompts, oracle_score, GEN, steps)
            assert_same(run_project(denoiser, policy_cls(steps=steps), tokens), x, order,
                        f"{name} steps {steps} seed {seed}")


@pytest.mark.parametrize("lam", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("alpha", [1.0, 10.0])
@pytest.mark.parametrize("block_length,steps", [(16, 16), (16, 4), (8, 8), (4, 8)])
def test_pc_sampler(lam, alpha, block_length, steps):
    freq = torch.tensor([1e-6] + [0.3, 0.2, 0.1, 0.1, 0.1, 0.08, 0.06, 0.04, 0.02]).double()
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, 5, GEN, seed)
            x, order = llada_run(model, prompts, llada.pc_sampler(freq, lam, alpha), block_length, steps)
            policy = PCSampler(lam=lam, alpha=alpha, steps=steps, frequency=freq.tolist(),
                               block_length=None if block_length == GEN else block_length)
            assert_same(run_project(denoiser, policy, tokens), x, order,
                        f"PC lambda {lam} alpha {alpha} block {block_length} steps {steps} seed {seed}")


@pytest.mark.parametrize("lam", [0.0, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("block_length,steps", [(16, 16), (8, 8), (4, 8)])
def test_pc_sampler_linear_position(lam, block_length, steps):
    """PC-sampler's linear_position, normalised over the block's masked positions (its code
    normalises over the whole block slice, decoded positions included: documented)."""
    freq = torch.tensor([1e-6] + [0.3, 0.2, 0.1, 0.1, 0.1, 0.08, 0.06, 0.04, 0.02]).double()
    for seed in SEEDS:
        denoiser, model, prompts, tokens = setting(3, 5, GEN, seed)
        score = llada.pc_sampler(freq, lam, 10.0, position="linear", normalise_over="masked")
        x, order = llada_run(model, prompts, score, block_length, steps)
        policy = PCSampler(lam=lam, alpha=10.0, steps=steps, frequency=freq.tolist(), position="linear",
                           block_length=None if block_length == GEN else block_length)
        assert_same(run_project(denoiser, policy, tokens), x, order,
                    f"PC linear lambda {lam} block {block_length} seed {seed}")


@pytest.mark.parametrize("gamma", [0.001, 0.01, 0.1, 1.0])
@pytest.mark.parametrize("block_length", [None, 8, 4])
@pytest.mark.parametrize("prompt_length", [4, 5])
def test_eb_sampler(gamma, block_length, prompt_length):
    """PC-sampler's generate_with_eb_sampler (no blocks in its code; with block_length the
    oracle runs the same rule inside Fast-dLLM-style blocks, the composition the project offers)."""
    for seed in SEEDS:
        denoiser, model, prompts, tokens = setting(3, prompt_length, GEN, seed)
        xs, orders = [], []
        for row in prompts:
            x, rec = llada.eb_sampler(model, row[None], gamma=gamma, gen_length=GEN, mask_id=MASK,
                                      block_length=block_length)
            xs.append(x[0]), orders.append(rec.order[0])
        result = run_project(denoiser, EBSampler(gamma=gamma, block_length=block_length), tokens)
        assert_same(result, torch.stack(xs), torch.stack(orders),
                    f"EB gamma {gamma} block {block_length} seed {seed}")


@pytest.mark.parametrize("logits_eos_inf", [False, True])
@pytest.mark.parametrize("confidence_eos_eot_inf", [False, True])
@pytest.mark.parametrize("block_length,steps", [(16, 16), (8, 8), (4, 8)])
def test_llada_eos_options(logits_eos_inf, confidence_eos_eot_inf, block_length, steps):
    """LLaDA's logits_eos_inf (ban_tokens=[EOS]) and confidence_eos_eot_inf
    (zero_confidence_tokens=[EoT]); here EOS = 1 and EoT = 2 of the toy vocabulary."""
    eos, eot = 1, 2
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, 5, GEN, seed)
            x, rec = llada.llada_blocks(model, prompts, steps=steps, gen_length=GEN, block_length=block_length,
                                        mask_id=MASK, score=llada.low_confidence(), eos_id=eos, eot_id=eot,
                                        logits_eos_inf=logits_eos_inf,
                                        confidence_eos_eot_inf=confidence_eos_eot_inf)
            policy = SemiAutoregressive(block_length=block_length, steps=steps,
                                        ban_tokens=[eos] if logits_eos_inf else [],
                                        zero_confidence_tokens=[eot] if confidence_eos_eot_inf else [])
            result = run_project(denoiser, policy, tokens)
            assert_same(result, x, rec.dense(), f"LLaDA EOS options block {block_length} seed {seed}")
            if logits_eos_inf:
                assert not (result.tokens[:, 5:] == eos).any()


@pytest.mark.parametrize("gamma", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("t_max,t_min,n", [(0.8, 0.4, 32), (1.0, 0.5, 4), (1.5, 1.0, 8)])
def test_eb_temperature_annealing_as_diffusers(gamma, t_max, t_min, n):
    """EBSampler(t_max, t_min, anneal_steps) against diffusers' EntropyBoundScheduler step
    (tests/oracles/diffusers_eb.py), on masked positions."""
    from oracles import diffusers_eb
    for seed in SEEDS:
        denoiser, model, prompts, tokens = setting(3, 5, GEN, seed)
        xs, orders = [], []
        for row in prompts:
            x, rec = diffusers_eb.generate(model, row[None], gen_length=GEN, mask_id=MASK,
                                           entropy_bound=gamma, t_max=t_max, t_min=t_min, num_steps=n)
            xs.append(x[0]), orders.append(rec.order[0])
        policy = EBSampler(gamma=gamma, t_max=t_max, t_min=t_min, anneal_steps=n)
        assert_same(run_project(denoiser, policy, tokens), torch.stack(xs), torch.stack(orders),
                    f"EB annealed gamma {gamma} t {t_max}->{t_min} over {n}")


@pytest.mark.parametrize("cfg_scale", [0.0, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("block_length,steps", [(16, 16), (8, 8)])
@pytest.mark.parametrize("prompt_length", [4, 5])
def test_llada_classifier_free_guidance(cfg_scale, block_length, steps, prompt_length):
    """LLaDA's cfg_scale: denoiser.guidance.ClassifierFreeGuidance around the denoiser."""
    from denoiser.guidance import ClassifierFreeGuidance
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, prompt_length, GEN, seed)
            x, rec = llada.llada_blocks(model, prompts, steps=steps, gen_length=GEN, block_length=block_length,
                                        mask_id=MASK, score=llada.low_confidence(), cfg_scale=cfg_scale)
            guided = ClassifierFreeGuidance(denoiser, cfg_scale, prompt_length)
            result = run_project(guided, SemiAutoregressive(block_length=block_length, steps=steps), tokens)
            assert_same(result, x, rec.dense(), f"LLaDA cfg {cfg_scale} block {block_length} seed {seed}")
