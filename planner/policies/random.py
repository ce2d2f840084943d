"""Vanilla ancestral sampling: MD4 (Shi et al. 2024, arXiv:2406.04329) and MDLM (Sahoo et al.
2024, arXiv:2406.07524). No score: every masked position unmasks independently of the others
and of the denoiser's output.

Linear time grid t_j = 1 - j/T, j = 0..T (alpha_t = 1 - t). Grid step j goes from t = t_j to
s = t_(j+1) and unmasks each still-masked position with probability

    (alpha_s - alpha_t) / (1 - alpha_t) = 1 - s/t = 1 / (T - j),

so the last grid step (s = 0) unmasks everything that is left. Equivalently, each masked
position gets an independent reveal bin uniform on {0, ..., T-1}: a position still masked at
grid step j is revealed there with probability 1/(T - j), which is exactly the chance that a
uniform bin on {j, ..., T-1} equals j. This file draws the bins once in `init_state` (with per-row seeds, each row's from its
own stream).

Caching (as in MD4 and MDLM): a grid step that reveals nothing leaves the state unchanged, so
the denoiser's output would be identical and its call is skipped. Each `select` therefore
jumps to the row's earliest bin that still holds a masked position and unmasks all of it:
NFE = the number of non-empty bins <= T, and the sample has exactly the ancestral sampler's law.
"""
from __future__ import annotations

import torch

from ..reveal import RevealSteps, check_steps
from ..row_random import RowStreams


class VanillaAncestral(RevealSteps):
    """MD4 / MDLM ancestral sampling with `steps` grid steps T (at most T denoiser calls)."""

    def __init__(self, steps: int = 81):
        check_steps(steps, allow_none=False)
        self.steps = steps

    def reveal_steps(self, initial_masked: torch.Tensor,
                     generator: torch.Generator | RowStreams | None) -> torch.Tensor:
        if isinstance(generator, RowStreams):   # sample(seeds=): each row's bins from its own stream
            return generator.randint(torch.arange(initial_masked.shape[0]), self.steps,
                                     initial_masked.shape)
        return torch.randint(0, self.steps, initial_masked.shape, generator=generator)
