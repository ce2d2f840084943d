"""A denoiser wrapper that makes some tokens impossible: their logits are -inf, so no policy
ranks or writes them and every distribution is renormalised without them (LLaDA's
`logits_eos_inf`, ML-GSAI/LLaDA `generate.py`, which bans its EOS id this way)."""
from __future__ import annotations

import torch

from .base import Denoiser, DenoiserOutput


class BannedTokens(Denoiser):
    def __init__(self, model: Denoiser, tokens):
        super().__init__()
        tokens = list(tokens)
        for t in tokens:
            if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < model.vocab_size:
                raise ValueError(f"banned tokens must be token ids in [0, {model.vocab_size}), "
                                 f"got {t!r}")
            if t == model.mask_id:
                raise ValueError(f"the mask id {t} cannot be banned (it is never written)")
        self.model, self.tokens = model, tokens
        self.mask_id, self.vocab_size = model.mask_id, model.vocab_size
        self.max_length, self.hidden_size = model.max_length, model.hidden_size
        self.supports_padding = getattr(model, "supports_padding", False)
        self.stateful = getattr(model, "stateful", False)

    def begin(self, tokens: torch.Tensor) -> None:
        self.model.begin(tokens)

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False, **kwargs) -> DenoiserOutput:
        out = self.model(tokens, return_hidden=return_hidden, **kwargs)
        logits = out.logits.clone()
        logits[..., self.tokens] = float("-inf")
        return DenoiserOutput(logits, out.hidden)
