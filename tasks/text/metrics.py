"""Sample quality for text: generative perplexity under an autoregressive scorer, and the
unigram (character) entropy of each sample, which falls when a sample repeats itself."""
from __future__ import annotations

import math

import torch


def unigram_entropy(tokens: torch.Tensor, scored: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """`[batch, length]` ids and `[batch, length]` bool -> `[batch]` entropy in bits of each
    row's character histogram over its scored positions (0 for a constant string)."""
    if tokens.shape != scored.shape:
        raise ValueError(f"tokens {tuple(tokens.shape)} and scored {tuple(scored.shape)} differ")
    counts = torch.zeros(tokens.shape[0], vocab_size, dtype=torch.float64)
    counts.scatter_add_(1, tokens.long(), scored.double())
    total = counts.sum(1, keepdim=True)
    if (total == 0).any():
        raise ValueError("a row has no scored position: its entropy is undefined")
    p = counts / total
    return -(p * torch.where(p > 0, p.log2(), torch.zeros_like(p))).sum(1)


def generative_perplexity(nll: torch.Tensor, scored: torch.Tensor) -> torch.Tensor:
    """`[batch, length]` per-position NLL in nats and the scored positions -> `[batch]`
    exp(mean NLL per scored character) of each sample."""
    n = scored.sum(1)
    if (n == 0).any():
        raise ValueError("a row has no scored position: its perplexity is undefined")
    return torch.exp((nll * scored).sum(1) / n)


def bits(nats: float) -> float:
    return nats / math.log(2)
