"""Dream's token distribution: the logits divided by the temperature, then top-p (nucleus) and
top-k filtering (Dream's `sample_tokens`, `top_p_logits`, `top_k_logits`).

A filtered-out token gets the float32 minimum as its logit (as Dream), so its probability is 0
and it is never drawn. top-p keeps the smallest prefix of the tokens sorted by probability whose
cumulative probability reaches top_p (the token that crosses it included, the first always);
top-k keeps the tokens whose logit is at least the k-th largest (ties at the k-th kept).
"""
from __future__ import annotations

import torch


def check_top_p(top_p) -> None:
    if top_p is None:
        return
    if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be None or a number in (0, 1], got {top_p!r}")


def check_top_k(top_k) -> None:
    if top_k is None:
        return
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be None or a positive integer, got {top_k!r}")


def top_p_filter(logits: torch.Tensor, top_p: float | None) -> torch.Tensor:
    if top_p is None or top_p >= 1:
        return logits
    ordered, index = torch.sort(logits, dim=-1, descending=True)
    cumulative = torch.softmax(ordered, dim=-1).cumsum(-1)
    drop = torch.zeros_like(cumulative, dtype=torch.bool)
    drop[..., 1:] = cumulative[..., :-1] > top_p           # drop once the mass before exceeds top_p
    drop = torch.zeros_like(drop).scatter(-1, index, drop)
    return logits.masked_fill(drop, torch.finfo(logits.dtype).min)


def top_k_filter(logits: torch.Tensor, top_k: int | None) -> torch.Tensor:
    if top_k is None:
        return logits
    kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, torch.finfo(logits.dtype).min)


def sampling_logits(logits: torch.Tensor, temperature: float, top_p: float | None,
                    top_k: int | None) -> torch.Tensor:
    """Dream's order: divide by the temperature (when > 0), then top-p, then top-k."""
    if temperature > 0:
        logits = logits / temperature
    return top_k_filter(top_p_filter(logits, top_p), top_k)
