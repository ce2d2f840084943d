"""What the planner networks see at one state x^(k-1) (docs/design.md section 3, "Planner network").

The frozen denoiser's output at a state is reduced once to a per-position `DenoiserSummary`
(top-1 probability, margin, entropy, argmax, optionally the last hidden states). The summary
is small (`[batch, length]` tensors), so the order model can cache it between the guide and
the model, which visit the same states, instead of keeping `[batch, length, vocab]` logits.
Every tensor here is an ordinary tensor cloned out of the denoiser's inference mode.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from planner.policies.factor import check_factor_score

# Features of `state_features`, in order.
STATE_FEATURES = ("confidence", "margin", "entropy", "is_masked", "fraction_masked")
# Features of `rank_features`, in order (optional inputs, `rank_features=True` networks).
RANK_FEATURES = ("log_odds", "rank", "is_top")
# Features of `factor_features`, in order (optional inputs, `factor_features=True` networks).
FACTOR_FEATURES = ("neg_log_miss", "log_rank")
# The log-odds of the top-1 probability (and -log(1 - p)) are clipped here (a probability of exactly 1 or 0).
MAX_LOG_ODDS = 12.0
# Features of `truth_features`, in order.
TRUTH_FEATURES = ("true_log_prob", "argmax_is_true")
# The true token's log-probability is clipped here before it enters a network: a token the
# denoiser rules out would otherwise feed -inf into the layers.
MIN_LOG_PROB = -30.0


@dataclass
class DenoiserSummary:
    """The frozen denoiser's distribution at one state, per position.

    confidence: `[batch, length]` p_i(v1), the top-1 probability
    margin:     `[batch, length]` p_i(v1) - p_i(v2)
    entropy:    `[batch, length]` H(p_i) in nats
    argmax:     `[batch, length]` long, v1
    hidden:     `[batch, length, d]` the denoiser's last hidden states, or None
    probs:      `[batch, length, vocab]` the full distribution, or None (read only by the
                correctness features, `vi.correct_features`)
    """

    confidence: torch.Tensor
    margin: torch.Tensor
    entropy: torch.Tensor
    argmax: torch.Tensor
    hidden: torch.Tensor | None = None
    probs: torch.Tensor | None = None

    @classmethod
    def from_logits(cls, logits: torch.Tensor, hidden: torch.Tensor | None = None
                    ) -> "DenoiserSummary":
        """logits `[batch, length, vocab]` (the mask token at -inf)."""
        logp = torch.log_softmax(logits.float(), dim=-1)
        probs = logp.exp()
        top = torch.topk(probs, 2, dim=-1)
        entropy = -(probs * torch.where(probs > 0, logp, torch.zeros_like(logp))).sum(-1)
        return cls(confidence=top.values[..., 0], margin=top.values[..., 0] - top.values[..., 1],
                   entropy=entropy, argmax=top.indices[..., 0], hidden=hidden, probs=probs)


@dataclass
class OrderState:
    """One state x^(k-1) of a batch of trajectories.

    tokens:         `[batch, length]` long, the state, mask_id at the still-masked positions
    masked:         `[batch, length]` bool, the still-masked positions (where r_k may fall)
    initial_masked: `[batch, length]` bool, M0, the positions masked at the start
    denoised:       the denoiser's summary at `tokens`
    beta:           `[batch]` the price per step, or None (used by beta-conditioned planners)
    true_log_prob:  `[batch, length]` log p_D(x_i | x^(k-1)) of the clean token x_i, or None
                    when x is unknown (at inference); the posterior needs it
    padding:        `[batch, length]` bool, True at positions that are not part of the row (a
                    padded batch, `planner.sample(padding=)`), or None; the attention mixer
                    ignores them
    """

    tokens: torch.Tensor
    masked: torch.Tensor
    initial_masked: torch.Tensor
    denoised: DenoiserSummary
    beta: torch.Tensor | None = None
    true_log_prob: torch.Tensor | None = None
    padding: torch.Tensor | None = None


def fraction_masked(state: OrderState) -> torch.Tensor:
    """`[batch]`: the share of each row's initially masked positions that are still masked."""
    n_initial = state.initial_masked.sum(-1).clamp(min=1).float()
    return state.masked.sum(-1).float() / n_initial


def state_features(state: OrderState) -> torch.Tensor:
    """`[batch, length, 5]`, see STATE_FEATURES. The denoiser's statistics are zeroed at
    positions that are no longer masked (they are not candidates)."""
    m = state.masked.float()
    d = state.denoised
    fraction = fraction_masked(state)[:, None].expand_as(m)
    return torch.stack([d.confidence * m, d.margin * m, d.entropy * m, m, fraction], dim=-1)


def more_confident(confidence: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """`[batch, length]` float: how many masked positions have a strictly higher `confidence`
    (or any score in its place) than each position (its 0-based rank among the masked)."""
    score = confidence.masked_fill(~masked, -1.0)
    return ((score[:, None, :] > score[:, :, None]) & masked[:, None, :]).sum(-1).float()


def rank_features(state: OrderState) -> torch.Tensor:
    """`[batch, length, 3]`, see RANK_FEATURES: the heuristics' view of the masked positions.

    log_odds: log p_i(v1) - log(1 - p_i(v1)), clipped to +-MAX_LOG_ODDS, so that a linear
        read-out of it is a Fast-dLLM confidence threshold;
    rank: the share of the other masked positions that are more confident (0 for the most
        confident, near 1 for the least), so "the k most certain" is easy to represent;
    is_top: 1 at the most confident masked position of the row.
    Every feature is zero at positions that are no longer masked.
    """
    m = state.masked
    c = state.denoised.confidence.float().clamp(1e-6, 1 - 1e-6)
    log_odds = (c.log() - torch.log1p(-c)).clamp(-MAX_LOG_ODDS, MAX_LOG_ODDS)
    n_other = (m.sum(-1, keepdim=True) - 1).clamp(min=1).float()
    rank = more_confident(c, m) / n_other
    most = c.masked_fill(~m, -1.0).argmax(-1, keepdim=True)
    top = torch.zeros_like(m).scatter(-1, most, True) & m
    mf = m.float()
    return torch.stack([log_odds * mf, rank * mf, top.float()], dim=-1)


def factor_features(state: OrderState, score: str = "confidence") -> torch.Tensor:
    """`[batch, length, 2]`, see FACTOR_FEATURES: the Fast-dLLM factor rule's view.

    neg_log_miss: -log(1 - s_i), clipped at MAX_LOG_ODDS;
    log_rank: log(2 + the number of masked positions with a higher s), i.e. log(n + 1) for
        the position of 1-based rank n,
    so that the factor rule's test (n + 1)(1 - s(n)) < f is the linear one
    neg_log_miss - log_rank > -log f. s is the top-1 probability (score "confidence", the
    `factor` rule) or the margin p(v1) - p(v2) ("margin", the `factor_margin` rule). Both
    features are zero at positions that are no longer masked.
    """
    check_factor_score(score, "factor score")
    m = state.masked
    s = getattr(state.denoised, score).float().clamp(0.0, 1.0)
    return factor_inputs(s, more_confident(s, m), m)


def factor_inputs(s: torch.Tensor, rank: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """`[batch, length, 2]`: -log(1 - s) clipped at MAX_LOG_ODDS and log(2 + rank), zero where
    not masked: the factor rule's two inputs for a score `s` in [0, 1] tested at 0-based
    `rank` (`factor_features`; `vi.correct_features` reads them at the correctness rank)."""
    neg_log_miss = (-torch.log1p(-s.clamp(max=1 - 1e-7))).clamp(max=MAX_LOG_ODDS)
    mf = masked.float()
    return torch.stack([neg_log_miss * mf, torch.log(2.0 + rank) * mf], dim=-1)


def schedule_features(state: OrderState) -> torch.Tensor:
    """`[batch, length, 1]`: log of the share of the initially masked positions still masked,
    at every masked position (0 elsewhere): where the row is along its schedule. The linear
    read-out -log(share) - log T is the logit of about 1 / (share T) while that is small: each
    call then reveals share * n0 / (share T) = n0 / T of the n0 positions, an even schedule of
    about T calls (`vi.networks.SubsetNet`, schedule_feature)."""
    m = state.masked
    share = fraction_masked(state).clamp(min=1.0 / m.shape[1])
    return (share.log()[:, None].expand_as(m) * m.float()).unsqueeze(-1)


def truth_features(state: OrderState, x: torch.Tensor) -> torch.Tensor:
    """`[batch, length, 2]`, see TRUTH_FEATURES: what only the posterior may see."""
    if state.true_log_prob is None:
        raise ValueError("the posterior needs state.true_log_prob (log p_D of the clean tokens)")
    m = state.masked.float()
    true_lp = state.true_log_prob.clamp(min=MIN_LOG_PROB)
    right = (state.denoised.argmax == x).float()
    return torch.stack([true_lp * m, right * m], dim=-1)


def true_log_prob(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p_D(x_i | state): logits `[batch, length, vocab]`, x `[batch, length]`
    -> `[batch, length]`."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, x.long().unsqueeze(-1)).squeeze(-1)
