"""The correctness model's view for a VI planner (issue 14): the factor rule read at the
correctness rank.

The correctness planner `learned_correct` (`vi.learned_correct_policy`) commits the n masked
cells of highest c_i, the frozen correctness model's probability that the denoiser's argmax
at cell i is right (`vi.correctness`), with n the count of the factor rule on the margin: the
largest n with (n + 1)(1 - m(n)) < f over the margins sorted descending. Per masked cell i
of correctness rank r_i (0-based, among the masked; ties share a rank) these features are

    c_log_odds:    the model's log-odds of c_i, clipped to +-MAX_LOG_ODDS;
    neg_log_miss:  -log(1 - m_(r_i)), the margin of rank r_i (not cell i's own), clipped at
                   MAX_LOG_ODDS as `vi.features.factor_features` clips it;
    log_rank:      log(2 + r_i),

so that "cell i is among the first n" is the linear test neg_log_miss - log_rank > -log f,
the same read-out that starts a planner as the factor rule (`vi.networks.SubsetNet`,
init_factor): a planner whose factor inputs are these starts as `learned_correct`. Every
feature is zero at positions that are no longer masked.
"""
from __future__ import annotations

import torch

from .features import MAX_LOG_ODDS, OrderState, factor_inputs, more_confident

CORRECT_FEATURES = ("c_log_odds", "neg_log_miss", "log_rank")


def correctness_rank_features(state: OrderState, net) -> torch.Tensor:
    """`[batch, length, 3]`, see CORRECT_FEATURES. `net` is a frozen `vi.correctness.
    CorrectnessNet`; it reads `state.denoised.probs`."""
    probs = state.denoised.probs
    if probs is None:
        raise ValueError("the correctness features read the denoiser's full distribution: "
                         "state.denoised.probs is None (build the summary with "
                         "DenoiserSummary.from_logits or pass probs)")
    m = state.masked
    net.to(probs.device)
    with torch.no_grad():
        c_logit = net(probs, m, state.initial_masked).float()
    rank = more_confident(c_logit, m)                                   # [B, L], 0-based
    margin = state.denoised.margin.float().clamp(0.0, 1.0).masked_fill(~m, -1.0)
    sorted_margin = margin.sort(dim=-1, descending=True).values
    at_rank = sorted_margin.gather(-1, rank.long().clamp(max=m.shape[-1] - 1)).clamp(min=0.0)
    c_log_odds = (c_logit.clamp(-MAX_LOG_ODDS, MAX_LOG_ODDS) * m.float()).unsqueeze(-1)
    return torch.cat([c_log_odds, factor_inputs(at_rank, rank, m)], dim=-1)
