"""Stop a row at its end-of-sequence token: a wrapper around any policy.

Once a row's generated region holds an EOS with every generated position before it filled,
the row is over: the step that writes that EOS (or the first step that finds one) also fills
every still-masked generated position after it with EOS, so the row leaves the loop without
another call (LLaDA's instruct models fill the tail with EOS tokens anyway; diffusers'
`LLaDA2Pipeline` stops a row the same way, `eos_early_stop`). Positions before the EOS are
decoded as usual. The wrapper only adds positions to the inner policy's choice and supplies
their token; it changes nothing else, so the inner policy's contract holds.

Not applied in a step where the inner policy bans tokens (the loop then redraws, so the
written tokens are not known here); the next step applies it.
"""
from __future__ import annotations

from typing import Any

import torch

from .context import StepContext
from .policy import Policy, Selection


def stop_after_eos(tokens: torch.Tensor, masked: torch.Tensor, generated: torch.Tensor,
                   eos_id: int) -> torch.Tensor:
    """`[batch, length]` bool: the still-masked generated positions after a row's first EOS
    in its generated region, for rows where every generated position before that EOS is
    filled."""
    is_eos = (tokens == eos_id) & generated & ~masked
    has = is_eos.any(-1)
    first = is_eos.long().argmax(-1)
    positions = torch.arange(tokens.shape[1], device=tokens.device)[None, :]
    before = generated & (positions < first[:, None])
    done = has & ~(before & masked).any(-1)
    return done[:, None] & masked & generated & (positions > first[:, None])


class StopAtEOS(Policy):
    def __init__(self, policy: Policy, eos_id: int):
        if not isinstance(policy, Policy):
            raise TypeError(f"policy must be a Policy, got {type(policy).__name__}")
        if isinstance(eos_id, bool) or not isinstance(eos_id, int) or eos_id < 0:
            raise ValueError(f"eos_id must be a token id (an integer >= 0), got {eos_id!r}")
        self.policy, self.eos_id = policy, eos_id

    needs_hidden = property(lambda self: self.policy.needs_hidden)
    revises = property(lambda self: self.policy.revises)
    allows_empty_steps = property(lambda self: self.policy.allows_empty_steps)
    max_nfe = property(lambda self: self.policy.max_nfe)

    def check_max_nfe(self, max_nfe: int) -> None:
        self.policy.check_max_nfe(max_nfe)

    def check_denoiser(self, denoiser) -> None:
        self.policy.check_denoiser(denoiser)

    def init_state(self, initial_masked: torch.Tensor, generator) -> Any:
        return self.policy.init_state(initial_masked, generator)

    def select(self, ctx: StepContext, state: Any) -> Selection:
        selection = self.policy.select(ctx, state)
        if selection.banned is not None:
            return selection
        generated = ctx.initial_masked
        written = selection.chosen if selection.edit is None else selection.chosen | selection.edit
        supplied = selection.tokens if selection.tokens is not None else None
        drawn = ctx.drawn if supplied is None else torch.where(supplied >= 0, supplied, ctx.drawn)
        after = torch.where(written, drawn, ctx.tokens)
        masked_after = ctx.masked & ~selection.chosen
        if selection.remask is not None:
            after = after.masked_fill(selection.remask, ctx.tokens.new_tensor(-1).item())
            masked_after = masked_after | selection.remask
        tail = stop_after_eos(after, masked_after, generated, self.eos_id) & ctx.masked
        if not bool(tail.any()):
            return selection
        tokens = supplied.clone() if supplied is not None else torch.full_like(ctx.tokens, -1)
        tokens[tail] = self.eos_id
        selection.chosen = selection.chosen | tail
        selection.tokens = tokens
        return selection

    def __repr__(self) -> str:
        return f"StopAtEOS({self.policy!r}, eos_id={self.eos_id})"
