"""`OracleImitation`: the prior trained to imitate an oracle order that sees the answer.

After Asano et al. 2026 ("Where-to-Unmask: Ground-Truth-Guided Unmasking Order Learning for
Masked Diffusion Language Models", arXiv 2602.09501): the oracle scores each masked position
by its ground-truth margin,

    g_i = p_D(x_i | s) - max_{v != x_i} p_D(v | s),

(positive exactly where the denoiser's argmax is the answer's token; the margin when it is,
p(x_i) - p(v1) when it is not), and reveals the easiest positions first. The paper learns a
planner that imitates this order by learning to rank; no code of the authors was found (the
`search` corpora hold the paper's abstract only), so this is our reading, written here:

- the oracle's step: every masked position with g_i > `oracle_threshold`, or the single one
  of largest g where none is (the shape of the planner's own deterministic inference, so
  the imitated sets also fix how many calls the planner spends);
- the oracle's trajectory: from the givens, the answer's tokens revealed on the oracle's
  sets (teacher forcing, the states of `vi.model`), so each training sequence costs its
  oracle's K denoiser calls;
- the loss per visited state, summed over the steps and the batch:

      -log P_theta(S* | s)                                   (cross-entropy to the oracle's set,
                                                              exact under the subset family)
      + rank_weight * mean_{(i, j): g_i > g_j + rank_gap} softplus(l_j - l_i)
                                                             (pairwise, RankNet-style ranking
                                                              of the prior's logits l by g).

The gradient is exact given the states (nothing is sampled), so its variance over draws of
the same batch is zero. Its `value` is minus the summed loss.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..features import DenoiserSummary, OrderState
from ..model import OrderModel
from .base import PriorObjective


def gt_margin(summary: DenoiserSummary, true_log_prob: torch.Tensor, x: torch.Tensor
              ) -> torch.Tensor:
    """`[batch, length]` the ground-truth margin g_i from the per-position summary: the
    margin where the argmax is x_i, else p(x_i) - p(v1)."""
    right = summary.argmax == x
    return torch.where(right, summary.margin, true_log_prob.exp() - summary.confidence)


def oracle_subset(g: torch.Tensor, masked: torch.Tensor, threshold: float) -> torch.Tensor:
    """`[batch, length]` bool: the masked positions with g > threshold, else the masked one of
    largest g; empty on rows with nothing masked."""
    over = masked & (g > threshold)
    best = g.masked_fill(~masked, -torch.inf).argmax(-1, keepdim=True)
    top = torch.zeros_like(masked).scatter(-1, best, True) & masked
    return torch.where(over.any(-1, keepdim=True), over, top)


def pairwise_rank_loss(logits: torch.Tensor, g: torch.Tensor, masked: torch.Tensor,
                       gap: float) -> torch.Tensor:
    """`[batch]` mean over the ordered pairs (i, j) of masked positions with g_i > g_j + gap of
    softplus(l_j - l_i) (0 on rows without such a pair)."""
    pairs = (g[:, :, None] > g[:, None, :] + gap) & masked[:, :, None] & masked[:, None, :]
    loss = F.softplus(logits[:, None, :] - logits[:, :, None])          # [b, i, j]: l_j - l_i
    total = torch.where(pairs, loss, torch.zeros_like(loss)).sum((-1, -2))
    return total / pairs.sum((-1, -2)).clamp(min=1)


class OracleImitation(PriorObjective):
    """oracle_threshold: the oracle's inclusion threshold on g (in (-1, 1)). rank_weight
    (>= 0): the weight of the pairwise ranking term; rank_gap (>= 0): the g difference a
    pair needs to count."""

    def __init__(self, oracle_threshold: float = 0.5, rank_weight: float = 1.0,
                 rank_gap: float = 0.05, max_plate_nesting: int = 1):
        super().__init__(max_plate_nesting=max_plate_nesting)
        number = isinstance(oracle_threshold, (int, float)) and not isinstance(oracle_threshold, bool)
        if not number or not -1.0 < oracle_threshold < 1.0:
            raise ValueError(f"oracle_threshold must be a number in (-1, 1) (a margin), got "
                             f"{oracle_threshold!r}")
        for name, value in (("rank_weight", rank_weight), ("rank_gap", rank_gap)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        self.oracle_threshold = float(oracle_threshold)
        self.rank_weight, self.rank_gap = float(rank_weight), float(rank_gap)

    def oracle_trajectory(self, order: OrderModel, x, masked, beta
                          ) -> list[tuple[OrderState, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per oracle step: (state, g, S*, running rows), without gradient."""
        out, left = [], masked.clone()
        with torch.no_grad():
            while bool(left.any()):
                running = left.any(-1)
                state = order.state(x, left, masked, beta)
                g = gt_margin(state.denoised, state.true_log_prob, x)
                chosen = oracle_subset(g, left, self.oracle_threshold)
                out.append((state, g, chosen, running))
                left = left & ~chosen
        return out

    def _value_and_surrogate(self, order, x, masked, beta):
        steps = self.oracle_trajectory(order, x, masked, beta)
        nll = torch.zeros(x.shape[0], device=x.device)
        rank = torch.zeros(x.shape[0], device=x.device)
        for state, g, chosen, running in steps:
            dist = order.prior.distribution(state)
            nll = nll - torch.where(running, dist.log_prob(chosen), torch.zeros(()))
            if self.rank_weight:
                rank = rank + torch.where(running, pairwise_rank_loss(dist.logits, g, state.masked,
                                                                      self.rank_gap),
                                          torch.zeros(()))
        loss = nll + self.rank_weight * rank
        n_steps = torch.stack([r for _, _, _, r in steps]).sum(0).float()
        sizes = torch.stack([c.sum(-1) for _, _, c, _ in steps]).sum(0).float()
        self.last_stats = {"subset_nll": float(nll.detach().mean()),
                           "rank_loss": float(rank.detach().mean()),
                           "steps": float(n_steps.mean()),
                           "oracle_set_size": float((sizes / n_steps.clamp(min=1)).mean())}
        return -loss.detach().sum(), -loss.sum()
