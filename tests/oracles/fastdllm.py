"""Fast-dLLM's threshold and factor rules in semi-AR blocks.

Transcribed from NVlabs/Fast-dLLM @ 24cc59e75f20a6384bae8c905965bb090b96388e,
`llada/generate.py` (`generate`, `get_transfer_index`, `get_transfer_index_dynamic`; the same
functions are in NEUIR/PC-Sampler's `src/generate.py`, `generate_with_fast_dllm`).

The loop: x = prompt followed by gen_length masks, blocks of block_length from the end of the
prompt; each block is run until its masks are gone (one call per iteration, no fixed step
count), the positions after the block excluded. The confidence is the float64 softmax
probability of the greedy token x0.
- threshold: rank the masked positions by confidence; the first is always revealed, every
  other one unless its confidence < threshold (so c >= threshold is kept).
- factor: sort the confidences c(1) >= c(2) >= ... >= c(N), thresholds 1 - f/(n + 1) with the
  first replaced by -1; top_i = the first n (0-based) with c < threshold, or N - 1 if none; then
  top_i += 1 when top_i is 0 or N - 1, and the top_i most confident positions are revealed.
  The `top_i == N - 1` branch also fires when the first failure is at the last position, which
  then is revealed too (`last_position_quirk`; the project follows the stated rule: False).
"""
from __future__ import annotations

import torch

from .common import Recorder, topk_index

NEG_INF = float("-inf")


def _confidence(logits, x, mask_index):
    x0 = logits.argmax(-1)
    p = torch.softmax(logits.to(torch.float64), -1)
    x0_p = p.gather(-1, x0[..., None])[..., 0]
    return torch.where(mask_index, x0, x), torch.where(mask_index, x0_p, torch.full_like(x0_p, NEG_INF))


def threshold_transfer(confidence, mask_index, threshold):
    transfer = torch.zeros_like(mask_index)
    for j in range(confidence.shape[0]):
        n = int(mask_index[j].sum())
        select = topk_index(confidence[j], n)
        transfer[j, select] = True
        for k in range(1, n):
            if confidence[j, select[k]] < threshold:
                transfer[j, select[k]] = False
    return transfer


def factor_transfer(confidence, mask_index, factor, last_position_quirk=False):
    transfer = torch.zeros_like(mask_index)
    for j in range(confidence.shape[0]):
        n = int(mask_index[j].sum())
        threshs = [1 - factor / (m + 1) for m in range(1, n + 1)]
        threshs[0] = -1
        ordered = torch.sort(confidence[j][mask_index[j]], descending=True).values
        top_i, broke = 0, False
        for top_i in range(n):
            if ordered[top_i] < threshs[top_i]:
                broke = True
                break
        # here top_i is the first failure, or n - 1 when none failed
        if top_i == 0 or top_i == n - 1:
            if last_position_quirk or not broke:
                top_i += 1
        transfer[j, topk_index(confidence[j], top_i)] = True
    return transfer


def generate(model, prompt, *, gen_length, block_length, mask_id, threshold=None, factor=None,
             last_position_quirk=False):
    """Batch 1, as Fast-dLLM's `generate`. Returns (x, Recorder)."""
    assert prompt.shape[0] == 1 and (threshold is None) != (factor is None)
    p_len = prompt.shape[1]
    x = torch.full((1, p_len + gen_length), mask_id, dtype=torch.long)
    x[:, :p_len] = prompt
    rec = Recorder(x, mask_id)
    assert gen_length % block_length == 0
    for b in range(gen_length // block_length):
        lo, hi = p_len + b * block_length, p_len + (b + 1) * block_length
        while (x[:, lo:hi] == mask_id).any():
            mask_index = x == mask_id
            mask_index[:, hi:] = False
            logits = model(x)
            x0, confidence = _confidence(logits, x, mask_index)
            if factor is None:
                transfer = threshold_transfer(confidence, mask_index, threshold)
            else:
                transfer = factor_transfer(confidence, mask_index, factor, last_position_quirk)
            x = torch.where(transfer, x0, x)
            rec.record(transfer)
    return x, rec
