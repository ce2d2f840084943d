"""Token choice at the chosen positions: greedy, or temperature sampling by Gumbel-max.

Gumbel noise is computed in float64: Zheng et al. 2024 (arXiv:2409.02908) showed that
categorical sampling in low precision silently lowers the effective temperature.
"""
from __future__ import annotations

import torch

from .row_random import RowStreams, uniform


def choose_tokens(logits: torch.Tensor, temperature: float = 0.0,
                  generator: torch.Generator | None = None, streams: RowStreams | None = None,
                  rows: torch.Tensor | None = None) -> torch.Tensor:
    """logits `[batch, length, vocab]` -> token ids `[batch, length]`. The noise comes from
    `generator`, or with per-row `streams` from each row's own (`rows`: the rows of the batch
    given to `sample()`)."""
    if temperature == 0.0:
        return logits.argmax(-1)
    u = uniform(logits.shape, generator, streams, rows, torch.float64).to(logits.device)
    u = u.clamp(min=torch.finfo(torch.float64).tiny)  # log(0) would give an infinite gumbel
    gumbel = -torch.log(-torch.log(u))
    return (logits.double() / temperature + gumbel).argmax(-1)
