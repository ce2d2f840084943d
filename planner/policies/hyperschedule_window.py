"""tau-hyperschedule, sliding window (Fathi et al. 2025, "Unifying Autoregressive and
Diffusion-Based Sequence Generation", arXiv:2504.06416), as a fixed reveal step per position for
a frozen denoiser: a "smoothed autoregressive" diagonal band moving left to right.

Over the n masked positions of a row, numbered q = 0..n-1 from left to right: a cursor c moves
from 0 to n - 1 + w as the time s goes from 0 to 1, c = s (n - 1 + w). Position q's noise level
falls linearly from 1 to 0 while the cursor crosses [q, q + w]: it becomes eligible at a time
proportional to q and is fully revealed within a window of width `w`. The expected number
revealed at cursor c is

    E(c) = sum_{q'=0}^{n-1} clip((c - q') / w, 0, 1).

Fixed reveal steps (a derandomised hyperschedule): positions go left to right (left ones are
never noisier), and position q is revealed at the first step t = 1..T (s = t/T) with
E(c) >= q + 1. With integers only: T w E = sum_q' clip(t (n - 1 + w) - q' T, 0, T w), so the
0-based reveal step is

    r_q = #{t in 1..T : sum_q' clip(t (n - 1 + w) - q' T, 0, T w) < (q + 1) T w}.

w = 1 with T = n is autoregressive, one position per step; a wider window starts and ends
slowly (E is quadratic at both ends). A step at which a row has nothing due is skipped, so NFE
<= T. `steps=None` reveals one position per step, left to right (r_q = q), which is what
T = n - 1 + w gives: E then grows by at most one per step.
"""
from __future__ import annotations

import torch

from ..reveal import Hyperschedule, masked_rank


class SlidingWindow(Hyperschedule):
    width_name = "window width"

    def reveal_steps(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        q, n = masked_rank(initial_masked)
        if self.steps is None:
            return q
        T, w = self.steps, self.w
        length = initial_masked.shape[1]
        t = torch.arange(1, T + 1, device=q.device)
        cursor = t[None, :] * (n - 1 + w)                     # [batch, T], times T
        revealed = torch.zeros_like(cursor)                   # T w E(c_t)
        for p in range(length):                               # one [batch, T] term per rank
            term = (cursor - p * T).clamp(min=0, max=T * w)
            revealed += torch.where(p < n, term, torch.zeros_like(term))
        return torch.searchsorted(revealed, (q + 1) * T * w) * initial_masked
