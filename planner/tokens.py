"""Token choice at the chosen positions: greedy, or temperature sampling by Gumbel-max.

Gumbel noise is computed in float64: Zheng et al. 2024 (arXiv:2409.02908) showed that
categorical sampling in low precision silently lowers the effective temperature.
"""
from __future__ import annotations

import torch


def choose_tokens(logits: torch.Tensor, temperature: float = 0.0,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """logits `[batch, length, vocab]` -> token ids `[batch, length]`."""
    if temperature == 0.0:
        return logits.argmax(-1)
    u = torch.rand(logits.shape, generator=generator, dtype=torch.float64).to(logits.device)
    u = u.clamp(min=torch.finfo(torch.float64).tiny)  # log(0) would give an infinite gumbel
    gumbel = -torch.log(-torch.log(u))
    return (logits.double() / temperature + gumbel).argmax(-1)
