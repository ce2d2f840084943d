"""Accuracy with a Wilson interval, and accuracy per difficulty bucket."""
from __future__ import annotations

import math
from collections import defaultdict

import torch


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval for a binomial proportion (Wilson 1927)."""
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bucket_accuracy(correct: torch.Tensor, labels: list[str]) -> dict[str, dict]:
    """Accuracy, interval and count per distinct label (sorted numerically when possible)."""
    if len(labels) != correct.numel():
        raise ValueError(f"{len(labels)} labels for {correct.numel()} results")
    groups: dict[str, list[bool]] = defaultdict(list)
    for label, ok in zip(labels, correct.tolist()):
        groups[label].append(bool(ok))

    def key(label: str):
        try:
            return (0, float(label), "")
        except ValueError:
            return (1, 0.0, label)

    out = {}
    for label in sorted(groups, key=key):
        oks = groups[label]
        lo, hi = wilson_interval(sum(oks), len(oks))
        out[label] = {"accuracy": sum(oks) / len(oks), "accuracy_ci95": [lo, hi], "n": len(oks)}
    return out


def mean_interval(values: torch.Tensor, geometric: bool = False,
                  z: float = 1.959964) -> tuple[float, float, float]:
    """The mean of per-sequence values and its normal 95% interval; `geometric`: the mean and
    interval are taken of log values and mapped back (perplexities pooled as exp of mean NLL)."""
    v = values.double().flatten()
    if v.numel() == 0:
        raise ValueError("no values to average")
    if geometric:
        if (v <= 0).any():
            raise ValueError("a geometric mean needs positive values")
        v = v.log()
    mean = float(v.mean())
    half = z * float(v.std()) / math.sqrt(v.numel()) if v.numel() > 1 else 0.0
    lo, hi = mean - half, mean + half
    if geometric:
        return math.exp(mean), math.exp(lo), math.exp(hi)
    return mean, lo, hi


def roc_auc(labels: torch.Tensor, scores: torch.Tensor) -> float | None:
    """P(score of a positive > score of a negative) + 1/2 P(tie) (the Mann-Whitney U with
    mid-ranks); None when either class is empty."""
    labels, scores = labels.bool().flatten(), scores.double().flatten()
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    values, inverse, counts = torch.unique(scores, return_inverse=True, return_counts=True)
    upper = torch.cumsum(counts, 0).double()
    mid_rank = upper - (counts.double() - 1) / 2                 # 1-based mid-ranks of ties
    ranks = mid_rank[inverse]
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))
