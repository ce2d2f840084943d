"""Dream's `_sample`: its step schedule and its confidence-based algorithms.

Transcribed from the copy of Dream's `generation_utils.py` in NVlabs/Fast-dLLM @
24cc59e75f20a6384bae8c905965bb090b96388e, `dream/model/generation_utils.py` ("Modified from
Dream repos: https://github.com/HKUNLP/Dream"; `sample_tokens` and the `maskgit_plus`,
`topk_margin`, `entropy` branches of `_sample`; HKUNLP/Dream @ a1b4472a46545661e989c01b5867caafe04fb9c4
documents the same `diffusion_generate` arguments in its README).

timesteps = linspace(1, eps, steps + 1) (float32); at step i, t = timesteps[i],
s = timesteps[i + 1]; the confidences of the masked positions are computed (greedy: the top
probability for maskgit_plus, top-1 minus top-2 for topk_margin, sum p log(p + 1e-10) for
entropy); k = int(n_masked * (1 - s / t)) for i < steps - 1, else all that are left, with
n_masked = the batch's masked count / batch size; if k > 0 the top-k positions are revealed
(alg_temp = 0) or drawn by a multinomial without replacement over softmax(confidence / alg_temp).
A step with k = 0 is still a call. Dream shifts its logits by one position (its model predicts
the next token); that belongs to the denoiser adapter, not to the rule, and is not transcribed.

Named deviations: `rank_dtype` (Dream ranks in float32), `entropy_eps` (Dream's 1e-10; the
project's entropy is exact), exact ties to the lowest index. Batch: Dream's k uses the batch
mean masked count; the project's each row's own (the same for one row or equal counts).
"""
from __future__ import annotations

import torch

from .common import Recorder, topk_index

NEG_INF = float("-inf")


def filtered(logits, temperature=0.0, top_p=None, top_k=None):
    """`sample_tokens`' logits: / temperature, then `top_p_logits`, then `top_k_logits`."""
    if temperature > 0:
        logits = logits / temperature
    if top_p is not None and top_p < 1:
        ordered, index = torch.sort(logits, descending=True)
        remove = torch.softmax(ordered, -1).cumsum(-1) > top_p
        remove[..., 1:] = remove[..., :-1].clone()
        remove[..., 0] = False
        logits = logits.masked_fill(torch.zeros_like(remove).scatter(-1, index, remove),
                                    torch.finfo(logits.dtype).min)
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]))[0][..., -1, None]
        logits = logits.masked_fill(logits < kth, torch.finfo(logits.dtype).min)
    return logits


def confidences(logits, alg, rank_dtype=torch.float64, entropy_eps=0.0, x0=None):
    probs = torch.softmax(logits.to(rank_dtype), -1)
    if alg == "maskgit_plus":
        if x0 is not None:                       # temperature > 0: p of the sampled token
            return probs.gather(-1, x0[..., None])[..., 0]
        return probs.max(-1).values
    if alg == "topk_margin":
        top = probs.sort(-1, descending=True).values
        return top[..., 0] - top[..., 1]
    if alg == "entropy":
        terms = probs * torch.log(probs + entropy_eps)
        return torch.where(probs > 0, terms, torch.zeros_like(terms)).sum(-1)
    raise ValueError(alg)


def sample(model, x, *, steps, eps=1e-3, alg="maskgit_plus", mask_id, rank_dtype=torch.float64,
           entropy_eps=0.0, temperature=0.0, top_p=None, top_k=None, generator=None):
    """x `[B, L]` with masks at the positions to generate. Returns (x, Recorder).

    temperature > 0: Dream draws x0 with `Categorical(probs).sample()`; the oracle draws the
    same law by Gumbel-max with uniform noise of the whole `[B, L, V]` step from `generator`
    (the project's noise), so that trajectories can be compared."""
    x = x.clone()
    rec = Recorder(x, mask_id)
    timesteps = torch.linspace(1, eps, steps + 1)
    for i in range(steps):
        mask_index = x == mask_id
        logits = model(x)
        t, s = timesteps[i], timesteps[i + 1]
        logits = filtered(logits, temperature, top_p, top_k)
        if temperature > 0:
            u = torch.rand(logits.shape, generator=generator, dtype=torch.float64)
            u = u.clamp(min=torch.finfo(torch.float64).tiny)
            x0 = (logits.double() - torch.log(-torch.log(u))).argmax(-1)[mask_index]
        else:
            x0 = logits[mask_index].argmax(-1)
        conf = confidences(logits[mask_index], alg, rank_dtype, entropy_eps,
                           x0 if temperature > 0 else None)
        num_mask_token = mask_index.sum() / mask_index.shape[0]
        k = int(num_mask_token * (1 - s / t)) if i < steps - 1 else int(num_mask_token)
        full = torch.full(x.shape, NEG_INF, dtype=rank_dtype)
        full[mask_index] = conf
        transfer = torch.zeros_like(mask_index)
        if k > 0:
            for j in range(x.shape[0]):
                transfer[j, topk_index(full[j], k)] = True
            candidate = torch.full_like(x, mask_id)
            candidate[mask_index] = x0
            x = torch.where(transfer, candidate, x)
        rec.record(transfer)
    return x, rec
