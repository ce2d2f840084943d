"""What a policy sees at one step of `planner.sample()`."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch


@dataclass
class StepContext:
    """The state of the still-active sequences at one step.

    logits:  `[batch, length, vocab]` float32 denoiser logits, the mask token at -inf
    tokens:  `[batch, length]` the current state x^(k-1)
    masked:  `[batch, length]` bool, positions still masked
    initial_masked: `[batch, length]` bool, the positions masked at the start (M0)
    step:    `[batch]` long, denoiser calls already spent on each sequence (this call is step+1)
    rows:    `[batch]` long, each sequence's row in the batch given to `sample()`; policies
             that keep per-sequence state index it with this, since finished rows leave
    hidden:  `[batch, length, d]` the denoiser's last hidden states, when the policy asked
    generator: the torch.Generator of this sample() call (CPU), or None
    last_call: `[batch]` bool, rows for which this is the last call `max_nfe` allows (the loop
             then unmasks every masked position whatever the policy chose), or None
    """

    logits: torch.Tensor
    tokens: torch.Tensor
    masked: torch.Tensor
    initial_masked: torch.Tensor
    step: torch.Tensor
    rows: torch.Tensor
    hidden: torch.Tensor | None = None
    generator: torch.Generator | None = None
    last_call: torch.Tensor | None = None
    extras: dict = field(default_factory=dict)

    @cached_property
    def probs(self) -> torch.Tensor:
        """`[batch, length, vocab]` the denoiser's distribution p_i."""
        return torch.softmax(self.logits, dim=-1)

    @cached_property
    def top2(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The two largest probabilities `[batch, length, 2]` and their token ids."""
        return torch.topk(self.probs, 2, dim=-1)

    @cached_property
    def confidence(self) -> torch.Tensor:
        """`[batch, length]` p_i(v1), the top-1 probability."""
        return self.top2[0][..., 0]

    @cached_property
    def margin(self) -> torch.Tensor:
        """`[batch, length]` p_i(v1) - p_i(v2)."""
        values = self.top2[0]
        return values[..., 0] - values[..., 1]

    @cached_property
    def entropy(self) -> torch.Tensor:
        """`[batch, length]` H(p_i) in nats."""
        logp = torch.log_softmax(self.logits, dim=-1)
        return -(self.probs * torch.where(self.probs > 0, logp, torch.zeros_like(logp))).sum(-1)

    @property
    def n_masked(self) -> torch.Tensor:
        """`[batch]` long, how many positions are still masked."""
        return self.masked.sum(-1)

    def rand(self, *shape: int) -> torch.Tensor:
        """Uniform noise from this call's generator, on the logits' device."""
        return torch.rand(*shape, generator=self.generator).to(self.logits.device)
