"""LLaDA's low-confidence remasking with semi-AR blocks, and the PC-sampler, EB-sampler, margin
and entropy rules that PC-sampler's code runs in the same loop.

Transcribed from
- ML-GSAI/LLaDA @ b7e6c3565f194352da44b38dd12b6970597309f3, `generate.py` (`generate`,
  `get_num_transfer_tokens`), and
- NEUIR/PC-Sampler @ 8b106b09877b2f69085db1b7bd7c1cc1e935d5a5, `src/generate.py`
  (`generate_with_pc_sampler`, `pc_sampler_function`, `linear_position`,
  `generate_with_eb_sampler`, `generate_with_margin`, `generate_with_entropy`).

The loop: x = prompt followed by gen_length masks; the generated region is cut into blocks of
block_length from the end of the prompt; each block gets steps // num_blocks calls with
LLaDA's even counts of the block's masks; at each call the positions after the current block
are excluded and the top-k masked positions by the rule's score are revealed (greedy x0).
A call with k = 0 is still made (LLaDA), and recorded as a step that revealed nothing.

Named deviations (documented differences): `rank_dtype` (the references rank in the model's
dtype, float32 or bf16; the project in float64); `entropy_eps` (PC-sampler adds 1e-12 inside
the log); `normalise_over` (PC-sampler's linear variant normalises over the whole block slice);
exact ties to the lowest index (`common.topk_index`).
"""
from __future__ import annotations

import math

import torch

from .common import Recorder, even_counts, topk_index

NEG_INF = float("-inf")


def gumbel_tokens(logits, temperature, generator):
    """LLaDA's `add_gumbel_noise` then argmax: exp(logits) / (-log u)^T in float64, u uniform
    (drawn here from `generator`, LLaDA draws it from the global generator)."""
    if temperature == 0:
        return logits.argmax(-1)
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float64)
    return (logits.to(torch.float64).exp() / (-torch.log(u)) ** temperature).argmax(-1)


def llada_blocks(model, prompt, *, steps, gen_length, block_length, mask_id, score,
                 temperature=0.0, generator=None, eos_id=None, eot_id=None,
                 logits_eos_inf=False, confidence_eos_eot_inf=False, cfg_scale=0.0):
    """LLaDA's block loop around `score(logits, x0, x, mask_index, lo, hi) -> [B, L]` (higher
    first; -inf excluded), lo:hi the current block. Returns (x, Recorder).

    logits_eos_inf: EOS's logit at -inf before the draw and the confidence.
    confidence_eos_eot_inf: LLaDA's `logits_with_noise[:, :, EOS] = logits[:, :, EoT] = -inf`
    after the draw: only the second assignment is read again (by the confidence).
    cfg_scale > 0: the model also runs on x with the prompt (the positions given at the start)
    masked, and logits = un + (cfg_scale + 1) (logits - un)."""
    batch, p_len = prompt.shape
    x = torch.full((batch, p_len + gen_length), mask_id, dtype=torch.long)
    x[:, :p_len] = prompt
    rec = Recorder(x, mask_id)
    prompt_index = x != mask_id
    assert gen_length % block_length == 0
    num_blocks = gen_length // block_length
    assert steps % num_blocks == 0
    per_block = steps // num_blocks
    for b in range(num_blocks):
        lo, hi = p_len + b * block_length, p_len + (b + 1) * block_length
        counts = even_counts((x[:, lo:hi] == mask_id).sum(-1), per_block)
        for i in range(per_block):
            mask_index = x == mask_id
            if cfg_scale > 0:
                un_x = x.clone()
                un_x[prompt_index] = mask_id
                logits, un_logits = torch.chunk(model(torch.cat([x, un_x])), 2)
                guided = un_logits + (cfg_scale + 1) * (logits - un_logits)
                # the toy's mask logit is -inf in both (LLaDA's are finite): keep it, not nan
                logits = torch.where(torch.isneginf(logits) & torch.isneginf(un_logits), logits, guided)
            else:
                logits = model(x)
            if logits_eos_inf:
                logits[:, :, eos_id] = NEG_INF
            x0 = gumbel_tokens(logits, temperature, generator)
            if confidence_eos_eot_inf:
                logits[:, :, eot_id] = NEG_INF
            conf = score(logits, x0, x, mask_index, lo, hi)
            conf[:, hi:] = NEG_INF
            conf = torch.where(mask_index, conf, torch.full_like(conf, NEG_INF))
            transfer = torch.zeros_like(x, dtype=torch.bool)
            for j in range(batch):
                transfer[j, topk_index(conf[j], counts[j, i])] = True
            x = torch.where(transfer, torch.where(mask_index, x0, x), x)
            rec.record(transfer)
    return x, rec


def low_confidence(rank_dtype=torch.float64):
    """LLaDA's `remasking='low_confidence'`: p(x0) of the greedy token."""
    def score(logits, x0, x, mask_index, lo, hi):
        p = torch.softmax(logits.to(rank_dtype), -1)
        return p.gather(-1, x0[..., None])[..., 0]
    return score


def margin(rank_dtype=torch.float64):
    """PC-sampler's `margin_function`: top-1 minus top-2 probability."""
    def score(logits, x0, x, mask_index, lo, hi):
        top = torch.softmax(logits.to(rank_dtype), -1).sort(-1, descending=True).values
        return top[..., 0] - top[..., 1]
    return score


def neg_entropy(rank_dtype=torch.float64, entropy_eps=0.0):
    """PC-sampler's `entropy_function`: sum_v p log(p + eps) (eps = 1e-12 in its code)."""
    def score(logits, x0, x, mask_index, lo, hi):
        p = torch.softmax(logits.to(rank_dtype), -1)
        terms = p * torch.log(p + entropy_eps)
        return torch.where(p > 0, terms, torch.zeros_like(terms)).sum(-1)
    return score


def pc_sampler(bg_freq, lam, alpha, rank_dtype=torch.float64, position="exponential",
               normalise_over="masked"):
    """PC-sampler's `pc_sampler_function` (position="exponential") or `linear_position`, on
    the current block's slice: positions counted from the block's start. normalise_over:
    "block" is PC-sampler's min-max over the whole slice, "masked" the project's."""
    def score(logits, x0, x, mask_index, lo, hi):
        p = torch.softmax(logits.to(rank_dtype), -1)
        x0_p = p.gather(-1, x0[..., None])[..., 0]
        tokens = torch.where(mask_index, x0, x)[:, lo:hi]
        calibrated = (-x0_p[:, lo:hi] * torch.log(bg_freq.to(rank_dtype)[tokens] + 1e-9)).clamp(max=alpha)
        pos = torch.arange(hi - lo, dtype=rank_dtype)
        if position == "exponential":
            block_score = torch.exp(-lam * pos) * calibrated
        else:
            span = hi - lo
            keep = mask_index[:, lo:hi]
            if normalise_over == "block":
                keep = torch.ones_like(keep)
            c_max = torch.where(keep, calibrated, NEG_INF).max(-1, keepdim=True).values
            c_min = torch.where(keep, calibrated, math.inf).min(-1, keepdim=True).values
            denom = (c_max - c_min).clamp(min=1e-9)
            block_score = (1 - lam) * (calibrated - c_min) / denom + lam * (span - pos) / span
        out = torch.full(x.shape, NEG_INF, dtype=rank_dtype)
        out[:, lo:hi] = block_score
        return out
    return score


def eb_sampler(model, prompt, *, gamma, gen_length, mask_id, rank_dtype=torch.float64,
               block_length=None):
    """PC-sampler's `generate_with_eb_sampler` (batch 1; no blocks in its code): sort the
    masked positions by entropy ascending, take the largest k with
    cumsum(H) - cummax(H) <= gamma, at least 1, at most all. block_length: the same rule
    inside Fast-dLLM-style blocks (each block until done), the composition the project offers."""
    assert prompt.shape[0] == 1
    p_len = prompt.shape[1]
    x = torch.full((1, p_len + gen_length), mask_id, dtype=torch.long)
    x[:, :p_len] = prompt
    rec = Recorder(x, mask_id)
    bl = gen_length if block_length is None else block_length
    for b in range(gen_length // bl if gen_length % bl == 0 else -(-gen_length // bl)):
        hi = p_len + (b + 1) * bl
        while (x[:, :hi] == mask_id).any():
            mask_index = x == mask_id
            mask_index[:, hi:] = False
            logits = model(x)
            predicted = logits.argmax(-1)
            idx = mask_index.nonzero(as_tuple=True)[1]
            logp = torch.log_softmax(logits[0, idx].to(rank_dtype), -1)
            h = -(logp.exp() * torch.where(torch.isfinite(logp), logp, torch.zeros_like(logp))).sum(-1)
            order = torch.argsort(h, stable=True)
            hs = h[order]
            k = int(((hs.cumsum(0) - hs.cummax(0).values) <= gamma).sum())
            k = min(max(k, 1), len(idx))
            take = idx[order[:k]]
            transfer = torch.zeros_like(x, dtype=torch.bool)
            transfer[0, take] = True
            x = torch.where(transfer, predicted, x)
            rec.record(transfer)
    return x, rec
