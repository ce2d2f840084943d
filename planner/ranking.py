"""How a policy orders the masked positions: by descending score, exact ties to the lowest
index, or (Dream's `alg_temp`) a random order drawn from the softmax of the scores."""
from __future__ import annotations

import torch

from .context import StepContext
from .row_random import uniform


def rank(scores: torch.Tensor, ctx: StepContext, alg_temp: float | None = None) -> torch.Tensor:
    """Positions by descending score, exact ties to the lowest index (a stable sort).

    alg_temp > 0 (Dream's `alg_temp`): a random order instead, the positions drawn one after
    the other without replacement from softmax(score / alg_temp) over the masked positions,
    by the Gumbel-top-k trick (rank score / alg_temp + Gumbel noise from `ctx.generator`, or each row's
    own stream with per-row seeds)."""
    if alg_temp:
        u = uniform(scores.shape, ctx.generator, ctx.streams, ctx.rows, torch.float64)
        u = u.clamp(min=torch.finfo(torch.float64).tiny).to(scores.device)
        scores = scores.double() / alg_temp - torch.log(-torch.log(u))
    return torch.argsort(scores, dim=-1, descending=True, stable=True)


def check_alg_temp(alg_temp) -> None:
    if alg_temp is None:
        return
    number = isinstance(alg_temp, (int, float)) and not isinstance(alg_temp, bool)
    if not number or not 0 <= alg_temp < float("inf"):
        raise ValueError(f"alg_temp must be None or a finite number >= 0 (0: no randomness), "
                         f"got {alg_temp!r}")
