"""ALiBi-style distance bias for a Hugging Face encoder, passed as its 4D attention mask.

A `BertForMaskedLM` has only absolute position embeddings, and trained from scratch with the
masked-diffusion objective on characters it sits at the unigram loss for hundreds of steps
before attention finds a character's neighbours (docs/results/text.md). ALiBi (Press et al.
2022, "Train Short, Test Long", arXiv:2108.12409) adds -slope_h * |i - j| to head h's attention
logits, which is local attention from the first step. `transformers` BERT-style models add a
float 4D `attention_mask` `[batch, heads, queries, keys]` to their attention logits as given
(eager and SDPA alike), so the bias needs no change to the model class: the model folder stays
an ordinary `BertForMaskedLM` checkpoint whose config records `alibi_slopes`, and the adapter
(`denoiser.hf.HFMaskedDenoiser`) builds the mask from it on every call.
"""
from __future__ import annotations

import torch

# The config key that carries the per-head slopes.
CONFIG_KEY = "alibi_slopes"


def alibi_slopes(n_heads: int) -> list[float]:
    """The ALiBi paper's geometric slopes 2^(-8 h / H), h = 1..H (H a power of two there; any
    H >= 1 here)."""
    if isinstance(n_heads, bool) or not isinstance(n_heads, int) or n_heads < 1:
        raise ValueError(f"n_heads must be a positive integer, got {n_heads!r}")
    return [2.0 ** (-8.0 * h / n_heads) for h in range(1, n_heads + 1)]


def check_slopes(slopes, n_heads: int, where: str) -> list[float]:
    """The slopes as floats, refused (naming `where`) unless one finite value >= 0 per head."""
    if not isinstance(slopes, (list, tuple)) or len(slopes) != n_heads:
        raise ValueError(f"{where}: {CONFIG_KEY} must be a list of {n_heads} numbers (one per "
                         f"attention head), got {slopes!r}")
    out = []
    for s in slopes:
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s < float("inf"):
            raise ValueError(f"{where}: every {CONFIG_KEY} entry must be a finite number >= 0, "
                             f"got {slopes!r}")
        out.append(float(s))
    return out


def distance_bias(slopes: list[float], query_positions: torch.Tensor, n_keys: int,
                  keep: torch.Tensor | None = None, dtype: torch.dtype = torch.float32
                  ) -> torch.Tensor:
    """The additive mask `[batch or 1, heads, queries, n_keys]`: -slope_h |q - k|, and the
    dtype's lowest value at keys where `keep` `[batch, n_keys]` (bool) is False (padding)."""
    device = query_positions.device
    s = torch.tensor(slopes, dtype=torch.float32, device=device)
    keys = torch.arange(n_keys, device=device)
    dist = (query_positions[:, None] - keys[None, :]).abs().float()
    bias = -s[:, None, None] * dist[None]                       # [H, Q, K]
    bias = bias[None]
    if keep is not None:
        bias = bias.masked_fill(~keep.bool()[:, None, None, :], torch.finfo(torch.float32).min)
    return bias.to(dtype)
