"""Per-position scores (which positions first). Higher means unmask sooner."""
from __future__ import annotations

import torch

from .context import StepContext
from .policy import Score


class Confidence(Score):
    """p_i(v1): top-k probability (Zheng et al. 2023, arXiv:2302.05737; MaskGIT)."""

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        return ctx.confidence

    def __repr__(self) -> str:
        return "Confidence()"


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
