"""`SingletonSubset`: one still-masked position per step, a categorical over the available ones.

The subset family of LO-ARM (Wang, Shi et al. 2025, "Learning-Order Autoregressive Models"):
the order model of docs/design.md section 3 with every r_k a single position,

    P({i}) = exp(l_i) / sum_{j in M} exp(l_j)   for i in M,   0 for every other set.

It has the interface of `BernoulliSubset` (values are masks `[*batch, L]`, here with exactly
one True; marginals, entropy, KL and a deterministic choice in closed form), so the order
model's programs, the estimators of `vi/estimators.py` and the exact enumeration of
`vi/exact.py` use it unchanged. A row with nothing available is the point mass on the empty
set, as in `BernoulliSubset`.
"""
from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints
from torch.distributions.kl import register_kl

from .subset import SubsetsOf, uniform_noise


class _SingletonOf(SubsetsOf):
    """Masks `[*batch, L]` with exactly one True inside `available` (none where it is empty)."""

    def admits(self, count: torch.Tensor, any_available: torch.Tensor) -> torch.Tensor:
        return torch.where(any_available, count == 1, count == 0)


class SingletonSubset(TorchDistribution):
    """logits: `[*batch, L]` scores l_i (entries outside `available` are ignored);
    available: `[*batch, L]` bool, the set M. batch_shape `(*batch,)`, event_shape `(L,)`."""

    arg_constraints = {"logits": constraints.real}
    has_rsample = False
    has_enumerate_support = False

    def __init__(self, logits: torch.Tensor | None = None, *, available: torch.Tensor,
                 probs: torch.Tensor | None = None, validate_args: bool | None = None):
        if probs is not None:
            raise ValueError("SingletonSubset takes logits (scores per position), not probs")
        if logits is None or logits.dim() < 1:
            raise ValueError(f"logits must be [*batch, L], got "
                             f"{None if logits is None else tuple(logits.shape)}")
        if available.dtype != torch.bool:
            raise TypeError(f"available must be a bool mask, got dtype {available.dtype}")
        logits, available = torch.broadcast_tensors(logits, available)
        self.logits, self.available = logits, available
        super().__init__(logits.shape[:-1], logits.shape[-1:], validate_args=validate_args)

    @property
    def is_empty(self) -> torch.Tensor:
        return ~self.available.any(-1)

    @property
    def _log_probs(self) -> torch.Tensor:
        """`[*batch, L]` log P({i}) on `available`, -inf elsewhere (0 everywhere on empty rows,
        a dummy that no value reads)."""
        masked = self.logits.masked_fill(~self.available, -math.inf)
        masked = torch.where(self.is_empty[..., None], torch.zeros_like(masked), masked)
        return torch.log_softmax(masked, -1)

    @property
    def probs(self) -> torch.Tensor:
        """`[*batch, L]` P({i}) (the marginals)."""
        return self.marginals()

    @property
    def support(self) -> constraints.Constraint:
        return _SingletonOf(self.available)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        new = self._get_checked_instance(SingletonSubset, _instance)
        shape = batch_shape + self.event_shape
        new.logits, new.available = self.logits.expand(shape), self.available.expand(shape)
        super(SingletonSubset, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """value `[*sample, *batch, L]` -> `[*sample, *batch]`: log P({i}) for a singleton {i}
        inside M, 0 for the empty set on an empty row, -inf for anything else."""
        v = value.bool()
        avail = self.available.expand(v.shape)
        log_probs = self._log_probs.expand(v.shape)
        picked = torch.where(v & avail, log_probs, torch.zeros_like(log_probs)).sum(-1)
        count = v.sum(-1)
        empty_row = ~avail.any(-1)
        valid = ~(v & ~avail).any(-1) & torch.where(empty_row, count == 0, count == 1)
        return torch.where(valid, torch.where(empty_row, torch.zeros_like(picked), picked),
                           torch.full_like(picked, -math.inf))

    def sample(self, sample_shape=torch.Size(), generator: torch.Generator | None = None,
               uniform=None) -> torch.Tensor:
        """Exact draw `[*sample, *batch, L]` bool by Gumbel-max in float64 (the noise from
        `uniform(shape)` when given, else from `generator`: `BernoulliSubset.sample`)."""
        with torch.no_grad():
            shape = torch.Size(sample_shape) + self.logits.shape
            log_probs = self._log_probs.double().expand(shape)
            u = uniform_noise(shape, generator, log_probs.device, uniform)
            pick = (log_probs - torch.log(-torch.log(u))).argmax(-1, keepdim=True)
            out = torch.zeros(shape, dtype=torch.bool, device=log_probs.device).scatter(-1, pick, True)
            return out & self.available.expand(shape)

    def marginals(self) -> torch.Tensor:
        """`[*batch, L]` P(i in S) = P({i}) on `available`, 0 elsewhere and on empty rows."""
        p = self._log_probs.exp()
        return torch.where(self.available, p, torch.zeros_like(p))

    @property
    def mean(self) -> torch.Tensor:
        return self.marginals()

    def entropy(self) -> torch.Tensor:
        """`[*batch]` -sum_i P({i}) log P({i}); 0 on empty rows."""
        lp = self._log_probs
        lp = torch.where(self.available, lp, torch.zeros_like(lp))   # no 0 * -inf, in either pass
        return -(self.marginals() * lp).sum(-1)

    def deterministic(self, threshold: float = 0.5) -> torch.Tensor:
        """`[*batch, L]` the most likely position (one per step whatever `threshold`, which a
        Bernoulli family's inference reads); empty rows stay empty."""
        pick = self.logits.masked_fill(~self.available, -math.inf).argmax(-1, keepdim=True)
        return torch.zeros_like(self.available).scatter(-1, pick, True) & self.available


@register_kl(SingletonSubset, SingletonSubset)
def _kl_singleton(q: SingletonSubset, p: SingletonSubset) -> torch.Tensor:
    """`[*batch]` KL(q || p) = sum_i q_i (log q_i - log p_i); both on the same `available`."""
    if q.available.shape != p.available.shape or not torch.equal(q.available, p.available):
        raise ValueError("KL between SingletonSubset distributions needs the same `available` "
                         "mask on both sides")
    diff = torch.where(q.available, q._log_probs - p._log_probs, torch.zeros_like(q.logits))
    return (q.marginals() * diff).sum(-1)
