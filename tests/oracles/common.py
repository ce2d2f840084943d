"""Shared pieces of the oracles."""
from __future__ import annotations

import torch


def topk_index(values: torch.Tensor, k: int) -> torch.Tensor:
    """The references' `torch.topk(values, k).indices` for a 1-D tensor, with exact ties to the
    lowest index (torch.topk leaves the order of exact ties unspecified; the project's
    documented tie rule is the lowest index)."""
    return torch.argsort(values, descending=True, stable=True)[:int(k)]


def even_counts(n_masked: torch.Tensor, steps: int) -> torch.Tensor:
    """LLaDA's `get_num_transfer_tokens`: `[B]` masked counts -> `[B, steps]`, the base count
    n // steps at every step and one more at the first n % steps steps."""
    base, extra = n_masked // steps, n_masked % steps
    counts = base[:, None].repeat(1, steps)
    for row in range(n_masked.shape[0]):
        counts[row, :int(extra[row])] += 1
    return counts


class Recorder:
    """The step at which each position was revealed, as `planner.sample`'s `order`: -1 at
    givens. `empty` counts the calls that revealed nothing (the reference loops make them)."""

    def __init__(self, x: torch.Tensor, mask_id: int):
        self.order = torch.where(x == mask_id, 0, -1)
        self.calls = 0

    def record(self, transfer: torch.Tensor) -> None:
        self.order[transfer] = self.calls
        self.calls += 1

    def dense(self) -> torch.Tensor:
        """Step indices renumbered without the calls that revealed nothing in that row (the
        project skips them): row by row, the k-th distinct reveal step becomes k."""
        out = self.order.clone()
        for row in range(out.shape[0]):
            steps = sorted(set(out[row][out[row] >= 0].tolist()))
            for k, s in enumerate(steps):
                out[row][self.order[row] == s] = k
        return out
