"""LLaDA's unsupervised classifier-free guidance (Nie et al. 2025, arXiv:2502.09992; `cfg_scale`
in ML-GSAI/LLaDA's `generate.py`), as a denoiser wrapper.

Each call runs the wrapped denoiser on the tokens and on the same tokens with the prompt masked
(the unconditional input), in one batch of twice the size, and returns

    logits = uncond + (scale + 1) * (cond - uncond).

The prompt is the first `prompt_length` positions of every row (LLaDA's `prompt_index`, the
positions given at the start, for a batch of left-padded prompts of one length). A step still
counts as one call of the sampling loop, as in LLaDA; it costs two forward passes. scale = 0 is
the wrapped denoiser (its logits, one pass). A token impossible in both passes (logit -inf, as
a mask token may be) stays impossible (LLaDA's logits are finite; the formula would give nan).
"""
from __future__ import annotations

import torch

from .base import Denoiser, DenoiserOutput


class ClassifierFreeGuidance(Denoiser):
    def __init__(self, model: Denoiser, scale: float, prompt_length: int):
        super().__init__()
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 <= scale < float("inf"):
            raise ValueError(f"scale (LLaDA's cfg_scale) must be a finite number >= 0, got {scale!r}")
        if isinstance(prompt_length, bool) or not isinstance(prompt_length, int) or prompt_length < 0:
            raise ValueError(f"prompt_length must be an integer >= 0, got {prompt_length!r}")
        self.model, self.scale, self.prompt_length = model, float(scale), prompt_length
        self.mask_id, self.vocab_size = model.mask_id, model.vocab_size
        self.max_length, self.hidden_size = model.max_length, model.hidden_size

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False) -> DenoiserOutput:
        if self.scale == 0:
            return self.model(tokens, return_hidden)
        uncond = tokens.clone()
        uncond[:, : self.prompt_length] = self.mask_id
        out = self.model(torch.cat([tokens, uncond]), return_hidden)
        cond, un = out.logits.chunk(2)
        guided = un + (self.scale + 1) * (cond - un)
        impossible = torch.isneginf(cond) & torch.isneginf(un)   # -inf - -inf would be nan
        guided = torch.where(impossible, cond, guided)
        hidden = None if out.hidden is None else out.hidden.chunk(2)[0]
        return DenoiserOutput(guided, hidden)
