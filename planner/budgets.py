"""Budgets (how many positions this step)."""
from __future__ import annotations

import math

import torch

from .context import StepContext
from .policy import Budget


class StepSchedule(Budget):
    """Spread the masked positions over `steps` denoiser calls.

    schedule="even" (LLaDA): the still-masked count divided as evenly as possible over the
    remaining steps, k = ceil(n_masked / (T - step)). schedule="cosine" (MaskGIT): after step
    s the share still masked is cos(pi/2 * s/T) of the initial count. `steps=None` unmasks one
    position per step (T = the number of masked positions).
    """

    SCHEDULES = ("even", "cosine")

    def __init__(self, steps: int | None = None, schedule: str = "even"):
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps must be a positive integer or None, got {steps!r}")
        if schedule not in self.SCHEDULES:
            raise ValueError(f"schedule must be one of {self.SCHEDULES}, got {schedule!r}")
        self.steps, self.schedule = steps, schedule

    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        n = ctx.n_masked
        if self.steps is None:
            return torch.ones_like(n)
        remaining = (self.steps - ctx.step).clamp(min=1)
        if self.schedule == "even":
            return (n + remaining - 1) // remaining
        n0 = ctx.initial_masked.sum(-1).double()
        frac = torch.cos(math.pi / 2 * ((ctx.step + 1).double() / self.steps).clamp(max=1.0))
        target_left = torch.floor(n0 * frac).long()
        return (n - target_left).clamp(min=1)

    def __repr__(self) -> str:
        return f"StepSchedule(steps={self.steps}, schedule={self.schedule!r})"
