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
    s the share still masked is cos(pi/2 * s/T) of the initial count. schedule="dream"
    (Dream's `_sample`, HKUNLP/Dream): on the grid t = linspace(1, eps, T + 1), step i unmasks
    k = int(n_masked * (1 - t_(i+1) / t_i)) positions (float32, truncated, as Dream computes
    it), and the last step (i = T - 1) all that are left; a step may unmask nothing (it still
    costs its call), so NFE = T exactly. `steps=None` unmasks one position per step
    (T = the number of masked positions).
    """

    SCHEDULES = ("even", "cosine", "dream")

    def __init__(self, steps: int | None = None, schedule: str = "even", eps: float = 1e-3):
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps must be a positive integer or None, got {steps!r}")
        if schedule not in self.SCHEDULES:
            raise ValueError(f"schedule must be one of {self.SCHEDULES}, got {schedule!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
            raise ValueError(f"eps must be a number in (0, 1) (Dream's final time), got {eps!r}")
        self.steps, self.schedule, self.eps = steps, schedule, float(eps)
        self.allows_zero = schedule == "dream" and steps is not None
        self.max_nfe = steps if self.allows_zero else None

    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor:
        n = ctx.n_masked
        if self.steps is None:
            return torch.ones_like(n)
        remaining = (self.steps - ctx.step).clamp(min=1)
        if self.schedule == "even":
            return (n + remaining - 1) // remaining
        if self.schedule == "dream":
            return self._dream(n, ctx.step)
        n0 = ctx.initial_masked.sum(-1).double()
        frac = torch.cos(math.pi / 2 * ((ctx.step + 1).double() / self.steps).clamp(max=1.0))
        target_left = torch.floor(n0 * frac).long()
        return (n - target_left).clamp(min=1)

    def _dream(self, n: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        grid = torch.linspace(1, self.eps, self.steps + 1, device=n.device)   # float32, as Dream
        i = step.clamp(max=self.steps - 1)
        share = 1 - grid[i + 1] / grid[i]
        k = (n.float() * share).long()                                        # int() truncates
        return torch.where(i >= self.steps - 1, n, k)

    def __repr__(self) -> str:
        eps = f", eps={self.eps}" if self.schedule == "dream" else ""
        return f"StepSchedule(steps={self.steps}, schedule={self.schedule!r}{eps})"
