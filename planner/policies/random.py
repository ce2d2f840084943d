"""Vanilla ancestral sampling: MD4 (Shi et al. 2024, arXiv:2406.04329) and MDLM (Sahoo et al.
2024, arXiv:2406.07524). No score: every masked position unmasks independently of the others
and of the denoiser's output.

Linear time grid t_j = 1 - j/T, j = 0..T (alpha_t = 1 - t). Grid step j goes from t = t_j to
s = t_(j+1) and unmasks each still-masked position with probability

    (alpha_s - alpha_t) / (1 - alpha_t) = 1 - s/t = 1 / (T - j),

so the last grid step (s = 0) unmasks everything that is left. Equivalently, each masked
position gets an independent reveal bin uniform on {0, ..., T-1}: a position still masked at
grid step j is revealed there with probability 1/(T - j), which is exactly the chance that a
uniform bin on {j, ..., T-1} equals j. This file draws the bins once in `init_state`.

Caching (as in MD4 and MDLM): a grid step that reveals nothing leaves the state unchanged, so
the denoiser's output would be identical and its call is skipped. Each `select` therefore
jumps to the row's earliest bin that still holds a masked position and unmasks all of it:
NFE = the number of non-empty bins <= T, and the sample has exactly the ancestral sampler's law.
"""
from __future__ import annotations

from abc import abstractmethod

import torch

from ..context import StepContext
from ..policy import NEG_INF, Policy, Selection


def check_steps(steps, *, allow_none: bool) -> None:
    """A step count knob: a positive integer (or None where that means one per step)."""
    if steps is None and allow_none:
        return
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        expected = "a positive integer or None" if allow_none else "a positive integer"
        raise ValueError(f"steps must be {expected}, got {steps!r}")


def masked_rank(initial_masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For `[batch, length]` bool: each masked position's index among its row's masked positions
    (0-based, left to right; 0 elsewhere) `[batch, length]`, and the masked count `[batch, 1]`."""
    counts = initial_masked.long().cumsum(-1)
    rank = (counts - 1).clamp(min=0) * initial_masked
    return rank, counts[:, -1:]


class RevealSteps(Policy):
    """A policy given by one reveal step per position, fixed once per call in `init_state`.

    state: `[batch, length]` long, the reveal step of every position (read at masked ones).
    Each `select` unmasks the masked positions whose step is the row's earliest; steps at which
    nothing is due are skipped, since the denoiser would see the same state again.
    """

    @abstractmethod
    def reveal_steps(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """`[batch, length]` long reveal steps for the masked positions of `initial_masked`."""

    def init_state(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.reveal_steps(initial_masked, generator).to(initial_masked.device)

    def select(self, ctx: StepContext, state: torch.Tensor) -> Selection:
        due = state[ctx.rows].masked_fill(~ctx.masked, torch.iinfo(torch.long).max)
        earliest = due.min(-1, keepdim=True).values
        chosen = ctx.masked & (due == earliest)
        scores = (-due.double()).masked_fill(~ctx.masked, NEG_INF)  # earlier = higher, for traces
        return Selection(chosen, scores)


class VanillaAncestral(RevealSteps):
    """MD4 / MDLM ancestral sampling with `steps` grid steps T (at most T denoiser calls)."""

    def __init__(self, steps: int = 81):
        check_steps(steps, allow_none=False)
        self.steps = steps

    def reveal_steps(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randint(0, self.steps, initial_masked.shape, generator=generator)
