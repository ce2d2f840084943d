"""Per-position scores (which positions first). Higher means unmask sooner."""
from __future__ import annotations

import torch

from .context import StepContext, check_token_ids
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

    zero_tokens (LLaDA's `confidence_eos_eot_inf`): the confidence is computed with these
    tokens' logits at -inf, so a position whose drawn token is one of them gets confidence 0
    (revealed last) and the others are renormalised without them. LLaDA's code applies this to
    EoT only (its EOS assignment goes to the noisy logits, which are not read again). Needs
    token="sampled".
    """

    def __init__(self, token: str = "sampled", zero_tokens=()):
        check_confidence_token(token)
        check_token_ids(zero_tokens, name="zero_confidence_tokens")
        if zero_tokens and token != "sampled":
            raise ValueError(f"zero_confidence_tokens {list(zero_tokens)} need confidence='sampled' "
                             f"(the drawn token's probability), got {token!r}")
        self.token, self.zero_tokens = token, tuple(zero_tokens)

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        if self.zero_tokens:
            check_token_ids(self.zero_tokens, ctx.logits.shape[-1], "zero_confidence_tokens")
            logits = ctx.logits.double().clone()
            logits[..., list(self.zero_tokens)] = float("-inf")
            return torch.softmax(logits, -1).gather(-1, ctx.drawn[..., None])[..., 0]
        return ctx.sampled_confidence if self.token == "sampled" else ctx.confidence

    def __repr__(self) -> str:
        zero = f", zero_tokens={list(self.zero_tokens)}" if self.zero_tokens else ""
        return f"Confidence(token={self.token!r}{zero})"


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
