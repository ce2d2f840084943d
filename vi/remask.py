"""The remasking half of the variational order model (docs/design.md, "Remasking"): which
filled positions to send back to the mask at one state.

At a state x^(k-1) of a sampler's own trajectory (its tokens may be wrong), the prior
P_theta(e | x^(k-1)) gives every revisable position (filled, not a given) an independent
Bernoulli probability of being remasked; the set e may be empty. The posterior Q_phi also
sees the solution x: it adds `truth_scale` to the logit of every filled token that differs
from x and subtracts it from the others, so with a large scale it is the oracle that
remasks exactly the wrong tokens (`vi.remask_oracle`).

A prior reads per-position features of the denoiser's scores of the written tokens
(`REMASK_FEATURES`). On the shipped Sudoku MDM those features do not tell a wrong token from
a right one (`python -m experiments.remask_signal`, docs/results/sudoku_fix.md), so no
learned prior is trained on them yet; the oracle is what `experiments.remask_signal` runs.
"""
from __future__ import annotations

import pyro.distributions as dist
import torch

# Features of `remask_features`, in order.
REMASK_FEATURES = ("log_p_token", "log_p_gap", "is_argmax", "fraction_masked", "complete",
                   "board_min_log_p", "age")
# log-probabilities are clipped here before they enter the network
MIN_LOG_P = -12.0
# the age (calls since the token was written) is divided by this and clipped at 1
AGE_SCALE = 8.0


def remask_features(log_probs: torch.Tensor, tokens: torch.Tensor, masked: torch.Tensor,
                    initial_masked: torch.Tensor, age: torch.Tensor) -> torch.Tensor:
    """`[batch, length, 7]` (see REMASK_FEATURES) at a state.

    log_probs: `[batch, length, vocab]` the denoiser's log-probabilities at the state;
    tokens: `[batch, length]` the state (mask id at masked positions); masked, initial_masked:
    `[batch, length]` bool; age: `[batch, length]` calls since each filled token was written.
    Features are zero at positions that are not revisable (masked or given)."""
    revisable = initial_masked & ~masked
    lp = log_probs.float()
    token_lp = lp.gather(-1, tokens.clamp(min=0)[..., None]).squeeze(-1).clamp(min=MIN_LOG_P)
    top_lp = lp.max(-1).values.clamp(min=MIN_LOG_P)
    gap = top_lp - token_lp
    is_argmax = (gap <= 0).float()
    n0 = initial_masked.sum(-1).clamp(min=1).float()
    fraction = (masked.sum(-1).float() / n0)[:, None].expand_as(token_lp)
    complete = (~masked.any(-1)).float()[:, None].expand_as(token_lp)
    board_min = token_lp.masked_fill(~revisable, 0.0).min(-1).values[:, None].expand_as(token_lp)
    age = (age.float() / AGE_SCALE).clamp(0.0, 1.0)
    feats = torch.stack([token_lp, gap, is_argmax, fraction, complete, board_min, age], -1)
    return feats * revisable[..., None].float()


def remask_distribution(logits: torch.Tensor, available: torch.Tensor) -> dist.Distribution:
    """Independent Bernoulli over the `available` positions (`[batch, length]` bool), the
    empty set allowed; an unavailable position is never remasked (its log-probability is not
    counted: draws there must be 0, which `draw` ensures)."""
    logits = logits.masked_fill(~available, -30.0)
    return dist.Bernoulli(logits=logits).mask(available).to_event(1)


def oracle_logits(prior_logits: torch.Tensor, tokens: torch.Tensor, x: torch.Tensor,
                  truth_scale: float) -> torch.Tensor:
    """Q_phi's logits: the prior's, plus truth_scale where the written token is wrong and
    minus it where it is right."""
    wrong = (tokens != x).float()
    return prior_logits + truth_scale * (2.0 * wrong - 1.0)


def draw(distribution: dist.Distribution, available: torch.Tensor,
         generator: torch.Generator | None = None, uniform=None) -> torch.Tensor:
    """A bool `[batch, length]` draw, False wherever the position is not available; the noise
    from `uniform(shape)` when given (a policy's per-row streams), else from `generator`."""
    base = distribution.base_dist.base_dist          # Independent(Masked(Bernoulli))
    u = (torch.rand(base.probs.shape, generator=generator) if uniform is None
         else uniform(base.probs.shape)).to(base.probs.device)
    return (u < base.probs) & available
