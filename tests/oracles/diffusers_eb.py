"""diffusers' EntropyBoundScheduler step, with its temperature annealing.

Transcribed from huggingface/diffusers @ 58eb52c0803ea9af3abec60841c2a093bdf1f951,
`src/diffusers/schedulers/scheduling_entropy_bound.py` (`EntropyBoundScheduler.step`).

At step index i of N: temperature = t_min + (t_max - t_min) (N - i) / N; the logits are divided
by it once; the entropies of the divided logits sorted ascending; a position is accepted when
cumsum(H) - H <= entropy_bound along that order (H sorted ascending is its running max).
diffusers' scheduler is for uniform corruption (every position of the block is a candidate,
the rest re-noised); for a masked denoiser the candidates are the masked positions, the
accepted ones are revealed, and the loop runs until none is left (the project's reading).
Named deviations: steps beyond N - 1 use i = N - 1 (`cap`); exact ties in the sort go to the
lowest index; greedy tokens (diffusers always samples).
"""
from __future__ import annotations

import torch

from .common import Recorder


def generate(model, prompt, *, gen_length, mask_id, entropy_bound, t_max, t_min, num_steps):
    """Batch 1: x = prompt followed by gen_length masks. Returns (x, Recorder)."""
    assert prompt.shape[0] == 1
    x = torch.cat([prompt, torch.full((1, gen_length), mask_id, dtype=torch.long)], 1)
    rec = Recorder(x, mask_id)
    while (x == mask_id).any():
        i = min(rec.calls, num_steps - 1)
        temperature = t_min + (t_max - t_min) * (num_steps - i) / num_steps
        scaled = (model(x).double() / temperature).float()
        tokens = scaled.argmax(-1)
        masked = (x == mask_id)[0].nonzero()[:, 0]
        logp = torch.log_softmax(scaled[0, masked].double(), -1)
        h = -(logp.exp() * torch.where(torch.isfinite(logp), logp, torch.zeros_like(logp))).sum(-1)
        h_sorted, order = torch.sort(h, stable=True)
        accepted = (h_sorted.cumsum(0) - h_sorted) <= entropy_bound
        transfer = torch.zeros_like(x, dtype=torch.bool)
        transfer[0, masked[order[accepted]]] = True
        x = torch.where(transfer, tokens, x)
        rec.record(transfer)
    return x, rec
