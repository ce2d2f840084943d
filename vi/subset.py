"""`BernoulliSubset`: a distribution over the non-empty subsets of the still-masked positions.

Independent Bernoulli draws over the available positions `M`, conditioned on the set being
non-empty (docs/design.md section 3, "The subset distribution"):

    P(S) = prod_{i in S} p_i * prod_{j in M \\ S} (1 - p_j) / Z,   Z = 1 - prod_{j in M} (1 - p_j).

Everything a variational estimator needs is exact and closed form:

- marginals  P(i in S) = p_i / Z            (i in S already makes S non-empty)
- entropy    H = -sum_{i in M} [pi_i log p_i + (1 - pi_i) log(1 - p_i)] + log Z,  pi_i = P(i in S)
- KL         KL(Q || P) = sum_{i in M} [piQ_i (log q_i - log p_i)
                                        + (1 - piQ_i)(log(1 - q_i) - log(1 - p_i))]
                          - log Z_q + log Z_p
  (both from log P(S) being linear in the indicators 1{i in S}, plus the constant -log Z).

A row whose available set is empty (a finished sequence in a ragged batch) is the point mass
on the empty set: it samples the empty set, whose log-probability is 0, and its marginals,
entropy and KL are 0. Every other value of such a row, and the empty set or a position
outside `M` for any other row, has log-probability -inf (no error is raised: estimators
evaluate only values this distribution produced).

Values are masks `[*batch, L]` (bool, or float 0/1 for `log_prob`); `event_shape = (L,)`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pyro.distributions import TorchDistribution
from torch.distributions import constraints
from torch.distributions.kl import register_kl
from torch.distributions.utils import probs_to_logits

from .segment import log1mexp, segment_ids_from_mask, segment_sum


class SubsetsOf(constraints.Constraint):
    """Masks `[*batch, L]` inside `available` whose size `admits` (here: non-empty where
    `available` is; `vi.singleton` narrows it to exactly one)."""

    is_discrete = True
    event_dim = 1

    def __init__(self, available: torch.Tensor):
        self.available = available
        super().__init__()

    def admits(self, count: torch.Tensor, any_available: torch.Tensor) -> torch.Tensor:
        return (count > 0) | ~any_available

    def check(self, value: torch.Tensor) -> torch.Tensor:
        value = value.bool()
        inside = ~(value & ~self.available).any(-1)
        return inside & self.admits(value.sum(-1), self.available.any(-1))


class BernoulliSubset(TorchDistribution):
    """Independent Bernoulli over `available` positions, conditioned on a non-empty draw.

    probs or logits: `[*batch, L]` the unconditioned inclusion probabilities p_i (entries
        outside `available` are ignored). Give exactly one. Probabilities are clamped to
        [eps, 1 - eps] of their dtype when turned into logits.
    available: `[*batch, L]` bool, the set M (the positions still masked).

    batch_shape `(*batch,)`, event_shape `(L,)`. `has_rsample = False`: the draw is discrete,
    so gradients flow through `log_prob` (score function) or through the closed forms.
    """

    arg_constraints = {"logits": constraints.real}
    has_rsample = False
    has_enumerate_support = False

    def __init__(self, probs: torch.Tensor | None = None, logits: torch.Tensor | None = None, *,
                 available: torch.Tensor, validate_args: bool | None = None):
        if (probs is None) == (logits is None):
            raise ValueError("give exactly one of probs or logits")
        logits = probs_to_logits(probs, is_binary=True) if logits is None else logits
        if logits.dim() < 1:
            raise ValueError(f"logits must be [*batch, L], got shape {tuple(logits.shape)}")
        if available.dtype != torch.bool:
            raise TypeError(f"available must be a bool mask, got dtype {available.dtype}")
        logits, available = torch.broadcast_tensors(logits, available)
        self.logits = logits
        self.available = available
        super().__init__(logits.shape[:-1], logits.shape[-1:], validate_args=validate_args)

    # ----------------------------------------------------------------- pieces of log P(S)
    @property
    def probs(self) -> torch.Tensor:
        """`[*batch, L]` the unconditioned p_i."""
        return torch.sigmoid(self.logits)

    @property
    def _log_p(self) -> torch.Tensor:        # log p_i
        return F.logsigmoid(self.logits)

    @property
    def _log_1mp(self) -> torch.Tensor:      # log(1 - p_i)
        return F.logsigmoid(-self.logits)

    @property
    def is_empty(self) -> torch.Tensor:
        """`[*batch]` bool, rows with nothing available (the point mass on the empty set)."""
        return ~self.available.any(-1)

    @property
    def log_normalizer(self) -> torch.Tensor:
        """`[*batch]` log Z = log(1 - prod_{j in M}(1 - p_j)); 0 for empty rows.

        The sum of log(1 - p_j) runs over each row's ragged set of available positions, a
        segment reduction (`vi.segment`: plain torch by default, torch-scatter with
        MDM_SEGMENT_BACKEND=scatter)."""
        length = self.logits.shape[-1]
        available = self.available.expand(self.logits.shape).reshape(-1, length)
        log_1mp = self._log_1mp.reshape(-1, length)
        log_none = segment_sum(log_1mp[available], segment_ids_from_mask(available),
                               available.shape[0]).reshape(self.logits.shape[:-1])
        empty = self.is_empty
        # An empty row has log_none = 0 exactly, where log1mexp is -inf with an infinite
        # gradient; a dummy value keeps both out of the graph.
        safe = torch.where(empty, torch.full_like(log_none, -1.0), log_none)
        return torch.where(empty, torch.zeros_like(log_none), log1mexp(safe))

    # ------------------------------------------------------------------------- interface
    @property
    def support(self) -> constraints.Constraint:
        return SubsetsOf(self.available)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(BernoulliSubset, _instance)
        shape = batch_shape + self.event_shape
        new.logits = self.logits.expand(shape)
        new.available = self.available.expand(shape)
        super(BernoulliSubset, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """value `[*sample, *batch, L]` (bool or 0/1) -> `[*sample, *batch]`."""
        v = value.bool()
        avail = self.available.expand(v.shape)
        per_position = torch.where(v, self._log_p, self._log_1mp)
        per_position = torch.where(avail, per_position, torch.zeros_like(per_position))
        lp = per_position.sum(-1) - self.log_normalizer
        outside = (v & ~avail).any(-1)
        empty_draw = ~v.any(-1) & avail.any(-1)
        return torch.where(outside | empty_draw, torch.full_like(lp, -math.inf), lp)

    def sample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None,
               uniform=None) -> torch.Tensor:
        """Exact draw `[*sample, *batch, L]` bool.

        The first included position i is drawn with probability p_i prod_{j<i in M}(1-p_j) / Z
        (Gumbel-max over those log-weights, in float64), every later available position
        independently with probability p_j. `generator`: an optional CPU torch.Generator;
        `uniform`: instead, a callable `shape -> float64 Uniform(0, 1) noise` (a policy's
        per-row streams, `StepContext.rand`).
        """
        with torch.no_grad():
            shape = torch.Size(sample_shape) + self.logits.shape
            logits = self.logits.double().expand(shape)
            avail = self.available.expand(shape)
            log_1mp = torch.where(avail, F.logsigmoid(-logits), torch.zeros_like(logits))
            before = torch.cumsum(log_1mp, -1) - log_1mp            # sum over j < i of log(1-p_j)
            log_first = F.logsigmoid(logits) + before
            # Empty rows get finite dummy weights; the final `& avail` empties them.
            log_first = torch.where(avail, log_first, torch.full_like(log_first, -math.inf))
            log_first = torch.where(avail.any(-1, keepdim=True), log_first,
                                    torch.zeros_like(log_first))
            u = uniform_noise(shape, generator, logits.device, uniform)
            first = torch.argmax(log_first - torch.log(-torch.log(u)), dim=-1, keepdim=True)
            position = torch.arange(shape[-1], device=logits.device)
            later = position > first
            bern = uniform_noise(shape, generator, logits.device, uniform) < torch.sigmoid(logits)
            return avail & ((position == first) | (later & bern))

    def marginals(self) -> torch.Tensor:
        """`[*batch, L]` P(i in S) = p_i / Z on `available`, 0 elsewhere."""
        m = torch.exp(self._log_p - self.log_normalizer.unsqueeze(-1))
        return torch.where(self.available, m, torch.zeros_like(m))

    @property
    def mean(self) -> torch.Tensor:
        return self.marginals()

    def entropy(self) -> torch.Tensor:
        """`[*batch]` H = -sum_{i in M}[pi_i log p_i + (1-pi_i) log(1-p_i)] + log Z."""
        pi = self.marginals()
        per_position = pi * self._log_p + (1 - pi) * self._log_1mp
        per_position = torch.where(self.available, per_position, torch.zeros_like(per_position))
        return -per_position.sum(-1) + self.log_normalizer

    def deterministic(self, threshold: float = 0.5) -> torch.Tensor:
        """`[*batch, L]` bool: every available position with p_i > threshold, or the most
        likely one where none is; empty rows stay empty (docs/design.md section 3, inference)."""
        over = self.available & (self.probs > threshold)
        masked_logits = self.logits.masked_fill(~self.available, -math.inf)
        top = torch.zeros_like(over).scatter(-1, masked_logits.argmax(-1, keepdim=True), True)
        top = top & self.available
        return torch.where(over.any(-1, keepdim=True), over, top)


def uniform_noise(shape: torch.Size, generator: torch.Generator | None, device,
                  uniform=None) -> torch.Tensor:
    """Uniform(0, 1) float64 noise, strictly positive, from `uniform(shape)` when given, else
    from `generator` (CPU) when given."""
    if uniform is not None:
        u = uniform(shape).to(device, torch.float64)
    elif generator is None:
        u = torch.rand(shape, dtype=torch.float64, device=device)
    else:
        u = torch.rand(shape, dtype=torch.float64, generator=generator).to(device)
    return u.clamp(min=torch.finfo(torch.float64).tiny)


@register_kl(BernoulliSubset, BernoulliSubset)
def _kl_bernoulli_subset(q: BernoulliSubset, p: BernoulliSubset) -> torch.Tensor:
    """`[*batch]` KL(q || p) in closed form; both must share `available`."""
    if q.available.shape != p.available.shape or not torch.equal(q.available, p.available):
        raise ValueError("KL between BernoulliSubset distributions needs the same `available` "
                         "mask on both sides")
    pi = q.marginals()
    per_position = (pi * (q._log_p - p._log_p) + (1 - pi) * (q._log_1mp - p._log_1mp))
    per_position = torch.where(q.available, per_position, torch.zeros_like(per_position))
    return per_position.sum(-1) - q.log_normalizer + p.log_normalizer
