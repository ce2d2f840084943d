"""The distribution a policy ranks on and draws its tokens from: the denoiser's ("model"), or
Dream's tempered and top-p / top-k filtered one ("sampling"), with banned tokens removed
(LLaDA's `logits_eos_inf`). See `StepContext.sampling_view` and `StepContext.banning`."""
from __future__ import annotations

from .context import StepContext
from .filtering import check_top_k, check_top_p


DISTRIBUTIONS = ("model", "sampling")


def check_distribution(distribution, top_p, top_k) -> None:
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    check_top_p(top_p)
    check_top_k(top_k)
    if distribution == "model" and (top_p is not None or top_k is not None):
        raise ValueError(f"top_p={top_p!r} / top_k={top_k!r} filter the sampling distribution: "
                         f"they need distribution='sampling' (Dream's), got {distribution!r}")


def token_view(ctx: StepContext, distribution: str, top_p, top_k, ban_tokens) -> tuple[StepContext, bool]:
    """The context a policy ranks and draws on, and whether it draws its own tokens: the
    banned tokens' logits at -inf (LLaDA's `logits_eos_inf`), then Dream's sampling view."""
    own = False
    if ban_tokens:
        ctx, own = ctx.banning(ban_tokens), True
    if distribution == "sampling":
        ctx, own = ctx.sampling_view(top_p, top_k), True
    return ctx, own
