"""tau-hyperschedule, hybrid annealing (Fathi et al. 2025, "Unifying Autoregressive and
Diffusion-Based Sequence Generation", arXiv:2504.06416; hdlm's `make_hybrid_annealing`), as a
fixed reveal step per position for a frozen denoiser: blocks in turn, and inside each block a
diagonal that sweeps left to right.

Over the n masked positions of a row, numbered q = 0..n-1 from left to right, blocks of w
(q in block b = q // w at place j = q mod w, the block holding m_b = min(w, n - b w)). Each
block gets S = tau + w - 1 steps (hdlm gives the short last block as many). At the block's
sub-step s = 0..S-1 its place j has the integer noise level

    l_j(s) = max(0, tau - 1 - max(0, s - j))      (tau levels; tau itself is "fully masked"),

so every place starts at tau - 1 and the diagonal reaches place j after j sub-steps. Fixed reveal
steps (a derandomised hyperschedule, the project's reading of hdlm's levels, as for the other
hyperschedules): a place at level l is revealed with probability 1 - l/tau, the block's
expected revealed count is E_b(s) = sum_{j < m_b} (tau - l_j(s)) / tau, and place j is revealed
at the first sub-step with E_b(s) >= j + 1, i.e. at the 0-based step b S + s. A step at which a
row has nothing due is skipped (the denoiser would see the same state), so NFE <= B S.
"""
from __future__ import annotations

import torch

from ..reveal import RevealSteps, masked_rank


class HybridAnnealing(RevealSteps):
    def __init__(self, w: int = 9, tau: int = 9):
        for name, value in (("w (block width)", w), ("tau (noise levels)", tau)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.w, self.tau = w, tau

    def reveal_steps(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        q, n = masked_rank(initial_masked)
        w, tau = self.w, self.tau
        per_block = tau + w - 1
        b, j = q // w, q % w
        m = torch.minimum(torch.full_like(q, w), n - b * w).clamp(min=1)       # places in q's block
        s = torch.arange(per_block, device=q.device)
        place = torch.arange(w, device=q.device)
        level = (tau - 1 - (s[:, None] - place[None, :]).clamp(min=0)).clamp(min=0)   # [S, w]
        revealed = (tau - level).cumsum(-1)                    # tau * E over the first places
        # tau * E_b(s) for a block of m places: revealed[s, m - 1]; first s with it >= (j+1) tau
        table = revealed.t().contiguous()                      # [w, S]: row m - 1
        due = (table[m - 1] < ((j + 1) * tau)[..., None]).sum(-1)
        return (b * per_block + due) * initial_masked
