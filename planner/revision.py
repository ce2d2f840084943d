"""What the revising policies share (remasking, editing, verification; docs/design.md,
"Remasking"): the denoiser's score of the tokens already written, and knob checks."""
from __future__ import annotations

import torch

from .context import StepContext


def committed_prob(ctx: StepContext) -> torch.Tensor:
    """`[batch, length]` p_i(x_i | current state): the denoiser's probability of the token now
    written at each filled position (its own re-scoring in context); 1 at masked positions.

    The masked objective never trains these outputs, so whether they carry signal is a
    property of the denoiser (measure it before trusting a verifier built on them)."""
    current = ctx.tokens.clamp(min=0)
    p = ctx.probs.gather(-1, current[..., None]).squeeze(-1)
    return torch.where(ctx.masked, torch.ones_like(p), p)


def revisable(ctx: StepContext) -> torch.Tensor:
    """`[batch, length]` bool: filled positions that are not givens (what a policy may revise)."""
    return ctx.initial_masked & ~ctx.masked


def check_number(value, name: str, *, low: float | None = None, high: float | None = None,
                 open_low: bool = False, open_high: bool = False) -> float:
    """A real knob within bounds; the error names the knob, the value and the interval."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} must be a number, got {value!r}")
    below = low is not None and (value <= low if open_low else value < low)
    above = high is not None and (value >= high if open_high else value > high)
    if below or above:
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        raise ValueError(f"{name} must be in {lo}{low if low is not None else '-inf'}, "
                         f"{high if high is not None else 'inf'}{hi}, got {value!r}")
    return float(value)


def check_count(value, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_schedule_bound(policy, max_nfe: int) -> None:
    """For a policy that runs exactly `policy.steps` calls: refuse a smaller bound."""
    if max_nfe < policy.steps:
        raise ValueError(f"max_nfe={max_nfe} is below the {policy.steps} calls "
                         f"{type(policy).__name__} takes (steps={policy.steps})")
