"""`planner.sample()`: the one sampling loop every policy runs in.

Each step calls the frozen denoiser once on the still-active sequences, asks the policy for a
set of masked positions (non-empty unless the policy `allows_empty_steps`; an empty step still
costs the row its call), writes tokens there (greedy or temperature sampling), and
drops the sequences that are complete, so no denoiser call is spent on a finished sequence.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from denoiser.base import Denoiser, FrozenDenoiser, check_tokens

from .context import StepContext
from .policy import Policy, Selection


@dataclass
class SampleResult:
    tokens: torch.Tensor   # [batch, length] completed sequences
    order: torch.Tensor    # [batch, length] long, step at which each position was revealed (0-based), -1 for givens
    nfe: torch.Tensor      # [batch] long, denoiser calls spent on each sequence


@dataclass
class StepRecord:
    """What a callback sees after each step: the context (scores inputs, probabilities),
    the policy's selection, and the state after the update (`tokens`, active rows only)."""
    iteration: int
    ctx: StepContext
    selection: Selection
    tokens: torch.Tensor


def _as_frozen(denoiser) -> FrozenDenoiser:
    if isinstance(denoiser, FrozenDenoiser):
        return denoiser
    if isinstance(denoiser, Denoiser):
        return FrozenDenoiser(denoiser)
    raise TypeError(f"denoiser must be a Denoiser or FrozenDenoiser, got {type(denoiser).__name__}")


def _as_policy(policy) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str):
        from .registry import load_policy
        return load_policy(policy)
    raise TypeError(f"policy must be a Policy or a policy config name, got {type(policy).__name__}")


def sample(denoiser: Denoiser | FrozenDenoiser, policy: Policy | str, tokens: torch.Tensor, *,
           generator: torch.Generator | None = None, temperature: float = 0.0,
           mask_id: int | None = None,
           callbacks: Iterable[Callable[[StepRecord], None]] = ()) -> SampleResult:
    """Complete every masked position of `tokens` `[batch, length]`.

    denoiser: a frozen MDM; its `mask_id` marks the positions to generate, every other token
        is a given (prompt, Sudoku clue) and is never changed.
    policy: a Policy, or the name of a config in `experiments/configs/policy/`.
    generator: a CPU torch.Generator; the same seed gives the same output.
    temperature: 0 for greedy tokens, else Gumbel-max sampling at that temperature.
    mask_id: optional; if given it must equal the denoiser's (guards tokens prepared for
        another model).
    callbacks: called after each step with a StepRecord.
    """
    frozen = _as_frozen(denoiser)
    policy = _as_policy(policy)
    if mask_id is not None and mask_id != frozen.mask_id:
        raise ValueError(f"mask_id {mask_id} does not match the denoiser's mask_id {frozen.mask_id}")
    check_tokens(tokens, frozen.vocab_size, frozen.max_length, frozen.mask_id)
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}")
    callbacks = tuple(callbacks)
    policy.check_denoiser(frozen)

    x = tokens.to(frozen.device, dtype=torch.long).clone()
    batch, length = x.shape
    initial_masked = x == frozen.mask_id
    order = torch.full((batch, length), -1, dtype=torch.long, device=x.device)
    nfe = torch.zeros(batch, dtype=torch.long, device=x.device)
    state = policy.init_state(initial_masked, generator)
    active = torch.nonzero(initial_masked.any(-1)).squeeze(1)

    iteration = 0
    while active.numel():
        xa = x[active]
        out = frozen(xa, return_hidden=policy.needs_hidden)
        logits = out.logits
        logits[..., frozen.mask_id] = float("-inf")  # adapters may score the mask token
        masked = xa == frozen.mask_id
        ctx = StepContext(logits=logits, tokens=xa, masked=masked,
                          initial_masked=initial_masked[active], step=nfe[active], rows=active,
                          hidden=out.hidden, generator=generator, temperature=temperature)
        selection = policy.select(ctx, state)
        chosen = selection.chosen
        if chosen.shape != masked.shape or chosen.dtype != torch.bool:
            raise RuntimeError(f"{policy!r} returned a selection of shape {tuple(chosen.shape)} "
                               f"dtype {chosen.dtype}; expected bool {tuple(masked.shape)}")
        if (chosen & ~masked).any():
            raise RuntimeError(f"{policy!r} chose a position that is not masked")
        if not policy.allows_empty_steps and not chosen.any(-1).all():
            raise RuntimeError(f"{policy!r} chose no position for some sequence")

        # the policy's own draw (Dream's filtered distribution), else the step's draw, which a
        # score may already have ranked (drawn once per step)
        drawn = selection.tokens if selection.tokens is not None else ctx.drawn
        xa = torch.where(chosen, drawn, xa)
        x[active] = xa
        order[active] = torch.where(chosen, nfe[active][:, None], order[active])
        nfe[active] += 1
        for callback in callbacks:
            callback(StepRecord(iteration, ctx, selection, xa))
        iteration += 1
        active = active[(xa == frozen.mask_id).any(-1)]
    return SampleResult(tokens=x, order=order, nfe=nfe)
