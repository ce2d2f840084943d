"""What a policy sees at one step of `planner.sample()`.

Ranking precision: the scores policies rank on (`confidence`, `margin`, `entropy`,
`sampled_confidence`) are float64, computed from the float32 logits by a float64 softmax, so
confidences within 1e-7 of 1 (which float32 rounds to exactly 1.0) keep their order, as in
Fast-dLLM's float64 softmax. Exact float64 ties are broken by the lowest position index (the
policies sort stably). `probs` and `top2` stay float32: the learned planner's inputs.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import torch

from .filtering import sampling_logits
from .row_random import RowStreams, uniform
from .tokens import choose_tokens

# Values derived from the logits alone, shared by a context and its restriction to a block.
_SHARED = ("probs", "top2", "entropy32", "probs64", "top2_64", "confidence", "margin", "entropy",
           "sampled_confidence")


def check_token_ids(tokens, vocab_size: int | None = None, name: str = "tokens") -> None:
    """A list of token ids, each in [0, vocab_size) when the vocabulary size is given."""
    if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
        raise ValueError(f"{name} must be a list of token ids, got {tokens!r}")
    for t in tokens:
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise ValueError(f"{name} must hold non-negative integer token ids, got {t!r}")
        if vocab_size is not None and t >= vocab_size:
            raise ValueError(f"{name} holds token id {t}, outside the denoiser's vocabulary "
                             f"[0, {vocab_size})")


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
    generator: the torch.Generator of this sample() call (CPU), or None (always None when
             the call has per-row seeds: draw through `rand`, `drawn` or `row_generator`)
    last_call: `[batch]` bool, rows for which this is the last call `max_nfe` allows (the loop
             then unmasks every masked position whatever the policy chose), or None
    temperature: the token temperature of this sample() call (0: greedy); `drawn` uses it
    padding: `[batch, length]` bool, True at positions that are not part of the row (a padded
             batch of rows of different lengths), or None; they are never masked
    streams: the call's per-row random streams (`sample(seeds=)`, `planner.row_random`), or
             None; with them every draw of `rand`, `drawn` and `row_generator` is the row's own
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
    temperature: float = 0.0
    padding: torch.Tensor | None = None
    extras: dict = field(default_factory=dict)
    streams: RowStreams | None = None

    @cached_property
    def probs(self) -> torch.Tensor:
        """`[batch, length, vocab]` the denoiser's distribution p_i."""
        return torch.softmax(self.logits, dim=-1)

    @cached_property
    def top2(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The two largest probabilities `[batch, length, 2]` and their token ids."""
        return torch.topk(self.probs, 2, dim=-1)

    @cached_property
    def entropy32(self) -> torch.Tensor:
        """`[batch, length]` float32 H(p_i): the learned planner's input (it was trained on it)."""
        logp = torch.log_softmax(self.logits, dim=-1)
        return -(self.probs * torch.where(self.probs > 0, logp, torch.zeros_like(logp))).sum(-1)

    @cached_property
    def probs64(self) -> torch.Tensor:
        """`[batch, length, vocab]` float64 p_i, for ranking."""
        return torch.softmax(self.logits.double(), dim=-1)

    @cached_property
    def top2_64(self) -> tuple[torch.Tensor, torch.Tensor]:
        """float64 `top2`."""
        return torch.topk(self.probs64, 2, dim=-1)

    @cached_property
    def confidence(self) -> torch.Tensor:
        """`[batch, length]` float64 p_i(v1), the top-1 probability."""
        return self.top2_64[0][..., 0]

    @cached_property
    def margin(self) -> torch.Tensor:
        """`[batch, length]` float64 p_i(v1) - p_i(v2)."""
        values = self.top2_64[0]
        return values[..., 0] - values[..., 1]

    @cached_property
    def entropy(self) -> torch.Tensor:
        """`[batch, length]` float64 H(p_i) in nats."""
        logp = torch.log_softmax(self.logits.double(), dim=-1)
        p = self.probs64
        return -(p * torch.where(p > 0, logp, torch.zeros_like(logp))).sum(-1)

    @property
    def drawn(self) -> torch.Tensor:
        """`[batch, length]` the tokens this step writes at the chosen positions: greedy, or
        Gumbel-max at `temperature`. Drawn once per step (the first read consumes the
        generator) and shared with the restrictions of this context, so a score that reads
        it (the probability of the sampled token) ranks the very tokens the loop writes."""
        if "drawn" not in self.extras:
            self.extras["drawn"] = choose_tokens(self.logits, self.temperature, self.generator,
                                                 self.streams, self.rows)
        return self.extras["drawn"]

    @cached_property
    def sampled_confidence(self) -> torch.Tensor:
        """`[batch, length]` float64 p_i(drawn_i), the denoiser's probability of the token
        this step writes (LLaDA's, Fast-dLLM's and PC-sampler's `x0_p`); p_i(v1) when greedy."""
        return self.probs64.gather(-1, self.drawn[..., None])[..., 0]

    def sampling_view(self, top_p: float | None = None, top_k: int | None = None) -> "StepContext":
        """This step as Dream sees it: the logits of the distribution tokens are drawn from,
        softmax(filter(logits / temperature)) (`planner.filtering`), so `confidence`, `margin`,
        `entropy` and `sampled_confidence` are on that distribution and `drawn` is drawn from it
        (at temperature 1 on the divided logits; greedy at temperature 0). Its own draw: a
        policy that ranks on it returns `drawn` in its Selection."""
        logits = sampling_logits(self.logits, self.temperature, top_p, top_k)
        return replace(self, logits=logits, temperature=1.0 if self.temperature > 0 else 0.0,
                       extras={})

    def banning(self, tokens) -> "StepContext":
        """This step with the logits of `tokens` at -inf (LLaDA's `logits_eos_inf`): they are
        never drawn and the scores are renormalised without them. Its own draw."""
        check_token_ids(tokens, self.logits.shape[-1], "ban_tokens")
        logits = self.logits.clone()
        logits[..., list(tokens)] = float("-inf")
        return replace(self, logits=logits, extras={})

    def restrict(self, masked: torch.Tensor) -> "StepContext":
        """This context with `masked` narrowed (to a block); the logits' statistics and the
        drawn tokens are shared, not recomputed."""
        if masked.shape != self.masked.shape or (masked & ~self.masked).any():
            raise ValueError("restrict() takes a subset of the context's masked positions")
        narrowed = replace(self, masked=masked)
        for name in _SHARED:
            if name in self.__dict__:
                narrowed.__dict__[name] = self.__dict__[name]
        return narrowed

    def take_rows(self, idx: torch.Tensor, logits: torch.Tensor | None = None) -> "StepContext":
        """This step for the rows `idx` (`[k]` long, into this context's batch) only: every
        per-row field narrowed (padding and last_call included), the call's generator, streams
        and temperature kept; `logits` (`[k, length, vocab]`) replaces theirs when given. Its
        own draw and statistics; `extras` are not carried (they are per-batch caches)."""
        def rows_of(t):
            return None if t is None else t[idx]
        return replace(self, logits=self.logits[idx] if logits is None else logits,
                       tokens=self.tokens[idx], masked=self.masked[idx],
                       initial_masked=self.initial_masked[idx], step=self.step[idx],
                       rows=self.rows[idx], hidden=rows_of(self.hidden),
                       last_call=rows_of(self.last_call), padding=rows_of(self.padding),
                       extras={})

    @property
    def n_masked(self) -> torch.Tensor:
        """`[batch]` long, how many positions are still masked."""
        return self.masked.sum(-1)

    def rand(self, *shape: int, dtype: torch.dtype = torch.float32, where=None) -> torch.Tensor:
        """Uniform noise `shape` (`[batch, length, ...]`) on the logits' device: from this call's
        generator, or with per-row streams from each row's own (`where`: `[batch]` bool, the
        rows that need the draw; the others' streams do not move; ignored without streams)."""
        return uniform(shape, self.generator, self.streams, self.rows, dtype,
                       where).to(self.logits.device)

    def row_generator(self, b: int) -> torch.Generator | None:
        """The generator for a per-row call on row `b` of this context (a scheduler's step): the
        row's own stream with per-row seeds, else this call's generator."""
        return self.generator if self.streams is None else self.streams.generator(self.rows[b])
