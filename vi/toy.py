"""An exact toy denoiser for the exact checks: the true conditionals of a fixed joint.

`JointTableDenoiser` holds a distribution over every sequence in V^N (V real tokens, N
positions) and answers p_D(x_i = v | revealed tokens) exactly, by summing the joint over the
sequences that agree with the revealed tokens. With such a denoiser, revealing one position
per step in any order reproduces the joint exactly (the chain rule), which gives the exact
checks an independent answer.
"""
from __future__ import annotations

import itertools

import torch
from torch import nn

from denoiser.base import Denoiser, DenoiserOutput

from .model import OrderModel
from .networks import PosteriorNet, PriorNet

# A tiny planner network size for exact checks.
TINY_NET = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32)


class JointTableDenoiser(Denoiser):
    """log_joint: `[V] * N` (any shape with N axes of size V), unnormalised log-probabilities
    of the sequences. Token ids 0..V-1 are the real tokens; mask_id = V."""

    def __init__(self, log_joint: torch.Tensor):
        super().__init__()
        n_tokens, length = log_joint.shape[0], log_joint.dim()
        if any(s != n_tokens for s in log_joint.shape):
            raise ValueError(f"log_joint must have N axes of equal size V, "
                             f"got {tuple(log_joint.shape)}")
        self.n_tokens, self.length = n_tokens, length
        self.mask_id, self.vocab_size, self.max_length = n_tokens, n_tokens + 1, length
        flat = log_joint.reshape(-1).double()
        # A parameter (never trained) so that FrozenDenoiser can fingerprint it.
        self.log_joint = nn.Parameter(flat - torch.logsumexp(flat, 0))
        table = torch.tensor(list(itertools.product(range(n_tokens), repeat=length)))
        self.register_buffer("table", table)                                   # [V^N, N]

    @classmethod
    def random(cls, n_tokens: int, length: int, seed: int, scale: float = 1.5
               ) -> "JointTableDenoiser":
        """A random joint with log-weights ~ scale * Normal(0, 1), strictly positive."""
        g = torch.Generator().manual_seed(seed)
        return cls(scale * torch.randn([n_tokens] * length, generator=g, dtype=torch.float64))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log of the joint at x `[batch, N]` (the normalised table) -> `[batch]`."""
        index = (x * (self.n_tokens ** torch.arange(self.length - 1, -1, -1))).sum(-1)
        return self.log_joint[index]

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False) -> DenoiserOutput:
        """tokens `[batch, N]` -> exact conditional logits `[batch, N, V + 1]` (mask at -inf)."""
        revealed = tokens != self.mask_id                                          # [b, N]
        agrees = (self.table[None] == tokens[:, None]) | ~revealed[:, None]       # [b, S, N]
        weight = torch.where(agrees.all(-1), self.log_joint[None], -torch.inf)    # [b, S]
        one_hot = nn.functional.one_hot(self.table, self.n_tokens).bool()         # [S, N, V]
        per_token = torch.where(one_hot[None], weight[:, :, None, None], -torch.inf)
        logits = torch.logsumexp(per_token, dim=1)                                # [b, N, V]
        logits = logits - torch.logsumexp(logits, -1, keepdim=True)
        mask_column = torch.full_like(logits[..., :1], -torch.inf)
        return DenoiserOutput(torch.cat([logits, mask_column], -1).float(), None)


def tiny_order_model(seed: int = 0, n_tokens: int = 2, length: int = 4, *,
                     head_std: float = 0.7, prior_logit: float | None = None,
                     posterior_logit: float | None = None,
                     baseline: dict | None = None) -> OrderModel:
    """An OrderModel over `JointTableDenoiser.random(n_tokens, length, seed)` with TINY_NET
    planner networks at a generic point: random output heads (~Normal(0, head_std) weights,
    Normal(0, 1) biases). At initialisation both heads are zero, so P = Q, a special point.
    A fixed `prior_logit` / `posterior_logit` instead makes that network output this constant
    logit everywhere."""
    torch.manual_seed(seed)
    denoiser = JointTableDenoiser.random(n_tokens, length, seed=seed)
    prior = PriorNet(n_tokens + 1, length, **TINY_NET)
    posterior = PosteriorNet(n_tokens + 1, length, **TINY_NET)
    with torch.no_grad():
        for net, fixed in ((prior, prior_logit), (posterior, posterior_logit)):
            if fixed is None:
                net.head.weight.normal_(0, head_std)
                net.head.bias.normal_(0, 1.0)
            else:
                net.head.bias.fill_(fixed)
    return OrderModel(denoiser, prior, posterior, baseline=baseline)
