"""Per-position scores (which positions first). Higher means unmask sooner."""
from __future__ import annotations

import torch

from .context import StepContext
from .policy import Score


CONFIDENCE_TOKENS = ("sampled", "top")


def check_confidence_token(token) -> None:
    if token not in CONFIDENCE_TOKENS:
        raise ValueError(f"confidence must be one of {CONFIDENCE_TOKENS}, got {token!r}")


class Confidence(Score):
    """The denoiser's probability of a token: top-k probability (Zheng et al. 2023,
    arXiv:2302.05737; MaskGIT), LLaDA's `low_confidence`.

    token="sampled" (the default, as LLaDA, Fast-dLLM and PC-sampler do): p_i(x0_i) of the
    token x0_i this step writes, drawn first (Gumbel-max at the loop's temperature); at
    temperature 0 it is p_i(v1), the same value as "top". token="top": p_i(v1) whatever is
    sampled. The default follows the references because it changes nothing when greedy and
    ranks the tokens actually written when sampling. Both float64.
    """

    def __init__(self, token: str = "sampled"):
        check_confidence_token(token)
        self.token = token

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        return ctx.sampled_confidence if self.token == "sampled" else ctx.confidence

    def __repr__(self) -> str:
        return f"Confidence(token={self.token!r})"


class Margin(Score):
    """p_i(v1) - p_i(v2): top-k margin (Kim et al. 2025, arXiv:2502.06768)."""

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        return ctx.margin

    def __repr__(self) -> str:
        return "Margin()"


class NegEntropy(Score):
    """-H(p_i): lowest entropy first (Dream's `alg=entropy`, arXiv:2508.15487)."""

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        return -ctx.entropy

    def __repr__(self) -> str:
        return "NegEntropy()"


class Uniform(Score):
    """Uniformly random order (LLaDA's `remasking='random'`)."""

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        return ctx.rand(*ctx.masked.shape)

    def __repr__(self) -> str:
        return "Uniform()"


SCORES = {"confidence": Confidence, "margin": Margin, "entropy": NegEntropy, "random": Uniform}


def make_score(name: str) -> Score:
    """A score by its short name, for policies that take one as a setting."""
    try:
        return SCORES[name]()
    except KeyError:
        raise ValueError(f"unknown score {name!r}; expected one of {sorted(SCORES)}") from None
