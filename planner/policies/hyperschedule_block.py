"""tau-hyperschedule, block annealing (Fathi et al. 2025, "Unifying Autoregressive and
Diffusion-Based Sequence Generation", arXiv:2504.06416), as a fixed reveal step per position for
a frozen denoiser.

A hyperschedule gives every position i its own noise level tau_t^i. Block annealing cuts the
sequence into blocks of width `w` and anneals one block after the other, each over an equal
share of the time. Here it runs over the positions a row generates: its n masked positions,
numbered q = 0..n-1 from left to right, form B = ceil(n / w) blocks, q in block b = q // w at
place j = q mod w, the block holding m_b = min(w, n - b w) positions. In continuous time
s in [0, 1] block b is annealed over [b/B, (b+1)/B], its revealed share rising linearly.

Fixed reveal steps (a derandomised hyperschedule): the (j+1)-th position of block b, left to
right, is revealed at the first of the T steps, s = t/T (t = 1..T), by which the block's
revealed share reaches (j+1)/m_b, i.e. at the 0-based step

    r_q = ceil(T (b m_b + j + 1) / (B m_b)) - 1      (exact integer arithmetic).

So the number revealed by any step is the schedule's expected number, rounded down within the
block. When B divides T each block has exactly its own T/B steps: r_q = b T/B + ceil((T/B)(j+1)/m_b) - 1.
A step at which a row has nothing due is skipped (the denoiser would see the same state), so
NFE <= T. `steps=None` reveals one position per step, left to right (r_q = q).
"""
from __future__ import annotations

import torch

from ..reveal import Hyperschedule, masked_rank


class BlockAnnealing(Hyperschedule):
    width_name = "block width"

    def reveal_steps(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        q, n = masked_rank(initial_masked)
        if self.steps is None:
            return q
        T, w = self.steps, self.w
        blocks = ((n + w - 1) // w).clamp(min=1)
        b, j = q // w, q % w
        m = torch.minimum(torch.full_like(q, w), n - b * w).clamp(min=1)
        num, den = T * (b * m + j + 1), blocks * m
        return ((num + den - 1) // den - 1) * initial_masked
