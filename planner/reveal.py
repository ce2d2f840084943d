"""Policies given by a fixed reveal step per position (ancestral sampling, tau-hyperschedules).

`RevealSteps` fixes every masked position's step once per `sample()` call; each `select`
reveals the row's earliest due positions, skipping steps where nothing is due (the denoiser
would see the same state again, so no call is spent on them).
"""
from __future__ import annotations

from abc import abstractmethod

import torch

from .context import StepContext
from .policy import NEG_INF, Policy, Selection


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


class Hyperschedule(RevealSteps):
    """A tau-hyperschedule: a width `w` and a step budget `steps` (None: one per step)."""

    width_name = "width"

    def __init__(self, w: int = 9, steps: int | None = None):
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise ValueError(f"w ({self.width_name}) must be a positive integer, got {w!r}")
        check_steps(steps, allow_none=True)
        self.w, self.steps = w, steps
