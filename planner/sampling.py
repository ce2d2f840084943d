"""`planner.sample()`: the one sampling loop every policy runs in.

Each step calls the frozen denoiser once on the still-active sequences, asks the policy for a
set of masked positions to unmask (and, for a revising policy, filled positions to remask or
edit), writes tokens there (greedy or temperature sampling), and drops the sequences that are
complete, so no denoiser call is spent on a finished sequence. A revising policy may keep a
completed row for another (verification) call; `max_nfe` bounds every row's calls, and the
last allowed call unmasks whatever is still masked (docs/design.md, "Remasking").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch

from denoiser.base import Denoiser, FrozenDenoiser, check_tokens

from .checks import (check_generator, check_padding, check_step_output, check_temperature,
                     warn_if_nothing_masked)
from .context import StepContext
from .policy import Policy, Selection
from .row_random import RowStreams
from .tokens import choose_tokens


@dataclass
class SampleResult:
    tokens: torch.Tensor    # [batch, length] completed sequences
    order: torch.Tensor     # [batch, length] long, step at which each position was last written (0-based), -1 for givens
    nfe: torch.Tensor       # [batch] long, denoiser calls spent on each sequence
    rewrites: torch.Tensor | None = None  # [batch, length] long, times each position was remasked or edited


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


def resolve_max_nfe(policy: Policy, max_nfe: int | None) -> int | None:
    """The calls-per-sequence bound for this call: the caller's and the policy's, the smaller;
    None where the policy needs none (one-pass, every step unmasks at least one position)."""
    if max_nfe is not None:
        if isinstance(max_nfe, bool) or not isinstance(max_nfe, int) or max_nfe < 1:
            raise ValueError(f"max_nfe must be a positive integer or None, got {max_nfe!r}")
        policy.check_max_nfe(max_nfe)
    own = policy.max_nfe
    bound = own if max_nfe is None else (max_nfe if own is None else min(own, max_nfe))
    if bound is None and (policy.revises or policy.allows_empty_steps):
        raise ValueError(f"{policy!r} may revisit positions or take empty steps, so it needs a "
                         f"bound on its denoiser calls: pass max_nfe= to sample()")
    return bound


def _check_selection(policy: Policy, selection: Selection, masked: torch.Tensor,
                     initial_masked: torch.Tensor, vocab_size: int) -> tuple[torch.Tensor, ...]:
    """The selection's sets as bool tensors, refusing one the loop cannot apply."""
    chosen = selection.chosen
    if chosen.shape != masked.shape or chosen.dtype != torch.bool:
        raise RuntimeError(f"{policy!r} returned a selection of shape {tuple(chosen.shape)} "
                           f"dtype {chosen.dtype}; expected bool {tuple(masked.shape)}")
    if (chosen & ~masked).any():
        raise RuntimeError(f"{policy!r} chose a position that is not masked")
    none = torch.zeros_like(masked)
    sets = {}
    for name in ("remask", "edit"):
        value = getattr(selection, name)
        if value is None:
            sets[name] = none
            continue
        if not policy.revises:
            raise RuntimeError(f"{policy!r} returned `{name}` but does not declare revises=True")
        if value.shape != masked.shape or value.dtype != torch.bool:
            raise RuntimeError(f"{policy!r} returned {name} of shape {tuple(value.shape)} dtype "
                               f"{value.dtype}; expected bool {tuple(masked.shape)}")
        if (value & ~initial_masked).any():
            raise RuntimeError(f"{policy!r} asked to {name} a given position; givens never change")
        if (value & masked).any():
            raise RuntimeError(f"{policy!r} asked to {name} a position that is still masked")
        sets[name] = value
    remask, edit = sets["remask"], sets["edit"]
    if (remask & edit).any():
        raise RuntimeError(f"{policy!r} asked to remask and edit the same position")
    revisit = selection.revisit
    if revisit is None:
        revisit = none[:, 0]
    elif not policy.revises:
        raise RuntimeError(f"{policy!r} returned `revisit` but does not declare revises=True")
    elif revisit.shape != masked.shape[:1] or revisit.dtype != torch.bool:
        raise RuntimeError(f"{policy!r} returned revisit of shape {tuple(revisit.shape)}; "
                           f"expected bool {tuple(masked.shape[:1])}")
    if selection.banned is not None and selection.banned.shape != (*masked.shape, vocab_size):
        raise RuntimeError(f"{policy!r} returned banned of shape {tuple(selection.banned.shape)}; "
                           f"expected {(*masked.shape, vocab_size)}")
    if selection.tokens is not None and selection.tokens.shape != masked.shape:
        raise RuntimeError(f"{policy!r} returned tokens of shape {tuple(selection.tokens.shape)}; "
                           f"expected {tuple(masked.shape)}")
    return chosen, remask, edit, revisit


def sample(denoiser: Denoiser | FrozenDenoiser, policy: Policy | str, tokens: torch.Tensor, *,
           generator: torch.Generator | None = None, temperature: float = 0.0,
           mask_id: int | None = None, max_nfe: int | None = None,
           callbacks: Iterable[Callable[[StepRecord], None]] = (),
           padding: torch.Tensor | None = None, seeds=None) -> SampleResult:
    """Complete every masked position of `tokens` `[batch, length]`.

    denoiser: a frozen MDM; its `mask_id` marks the positions to generate, every other token
        is a given (prompt, Sudoku clue) and is never changed.
    policy: a Policy, or the name of a registered policy (`planner.policy_names()`).
    generator: a CPU torch.Generator; the same seed gives the same output. One stream for the
        batch: a row's random numbers (a random order, remasks, sampled tokens) depend on the
        rows beside it.
    temperature: 0 for greedy tokens, else Gumbel-max sampling at that temperature.
    mask_id: optional; if given it must equal the denoiser's (guards tokens prepared for
        another model).
    max_nfe: optional bound on the denoiser calls per sequence (with the policy's own bound,
        the smaller holds); the last allowed call unmasks every position still masked.
    callbacks: called after each step with a StepRecord.
    padding: optional `[batch, length]` bool, True at positions that are not part of the row
        (rows of different lengths in one batch): they must hold a non-mask token, are never
        written, and the denoiser (one with `supports_padding`) attends to none of them, so a
        row's result is the one it has alone (`planner.generate` pads this way).
    seeds: instead of `generator`, one seed per row (a LongTensor `[batch]` or a list of ints
        in [0, 2**63)): each row draws every random number (the project's policies' orders and
        remasks, its sampled tokens) from its own generator over its own positions
        (`planner.row_random.RowStreams`), so its output depends on its seed only, not on the
        rows beside it or its padding. Rows given the same seed draw the same numbers. A
        policy of your own that reads `ctx.generator` gets None: draw with `ctx.rand`.
    """
    temperature, generator = check_temperature(temperature), check_generator(generator)
    if seeds is not None and generator is not None:
        raise ValueError("pass generator= (one stream for the batch) or seeds= (one per row), "
                         "not both")
    frozen = _as_frozen(denoiser)
    policy = _as_policy(policy)
    if mask_id is not None and mask_id != frozen.mask_id:
        raise ValueError(f"mask_id {mask_id} does not match the denoiser's mask_id {frozen.mask_id}")
    check_tokens(tokens, frozen.vocab_size, frozen.max_length, frozen.mask_id)
    padding = check_padding(padding, tokens, frozen.mask_id)
    warn_if_nothing_masked(tokens, frozen.mask_id)
    callbacks = tuple(callbacks)
    policy.check_denoiser(frozen)
    bound = resolve_max_nfe(policy, max_nfe)

    x = tokens.to(frozen.device, dtype=torch.long).clone()
    batch, length = x.shape
    initial_masked = x == frozen.mask_id
    order = torch.full((batch, length), -1, dtype=torch.long, device=x.device)
    nfe = torch.zeros(batch, dtype=torch.long, device=x.device)
    rewrites = torch.zeros((batch, length), dtype=torch.long, device=x.device)
    streams = None if seeds is None else RowStreams(seeds, batch, length, padding)
    state = policy.init_state(initial_masked, generator if streams is None else streams)
    active = torch.nonzero(initial_masked.any(-1)).squeeze(1)
    stateful = getattr(frozen.model, "stateful", False)
    if stateful:
        frozen.model.begin(x)
    if padding is not None:
        padding = padding.to(x.device)

    iteration = 0
    while active.numel():
        xa = x[active]
        pad = None if padding is None else padding[active]
        extra = {"rows": active} if stateful else {}
        if pad is not None:
            extra["attention_mask"] = ~pad
        out = frozen(xa, return_hidden=policy.needs_hidden, **extra)
        logits = out.logits
        check_step_output(logits, xa == frozen.mask_id, frozen.vocab_size, frozen.mask_id,
                          where=f"the denoiser ({type(frozen.model).__name__}) at step {iteration}")
        logits[..., frozen.mask_id] = float("-inf")  # adapters may score the mask token
        masked = xa == frozen.mask_id
        step = nfe[active]
        last = (step + 1 >= bound) if bound is not None else torch.zeros_like(masked[:, 0])
        ctx = StepContext(logits=logits, tokens=xa, masked=masked,
                          initial_masked=initial_masked[active], step=step, rows=active,
                          hidden=out.hidden, generator=generator, last_call=last,
                          temperature=temperature, padding=pad, streams=streams)
        selection = policy.select(ctx, state)
        chosen, remask, edit, revisit = _check_selection(policy, selection, masked,
                                                         initial_masked[active], frozen.vocab_size)
        if last.any():  # the bound: this row's last call completes it (edits stay allowed)
            chosen = torch.where(last[:, None], masked, chosen)
            remask = remask & ~last[:, None]
            revisit = revisit & ~last
        if not policy.allows_empty_steps and not policy.revises and not chosen.any(-1).all():
            raise RuntimeError(f"{policy!r} chose no position for some sequence")

        draw_logits = logits
        if selection.banned is not None:
            draw_logits = logits.masked_fill(selection.banned, float("-inf"))
        write = chosen | edit
        # tokens the policy supplies itself (Dream's filtered draw, a board a revising policy
        # restores) where they are >= 0; elsewhere the step's draw, which a score may already
        # have ranked (drawn once per step and cached in the context), or for a policy that
        # bans tokens a draw without them. A policy that supplies every token costs no draw.
        supplied = (selection.tokens >= 0) if selection.tokens is not None else torch.zeros_like(write)
        # (With per-row streams every row draws every step, whatever the other rows need.)
        if bool(supplied.all()) and streams is None:
            drawn = selection.tokens
        elif selection.banned is None:
            drawn = ctx.drawn
        else:
            drawn = choose_tokens(draw_logits, temperature, generator, streams, active)
            if (write & ~supplied & ~torch.isfinite(draw_logits.gather(
                    -1, drawn[..., None]).squeeze(-1))).any():
                raise RuntimeError(f"{policy!r} banned every token at a position it chose")
        if selection.tokens is not None:
            drawn = torch.where(supplied, selection.tokens, drawn)
        xa = torch.where(write, drawn, xa).masked_fill(remask, frozen.mask_id)
        x[active] = xa
        order[active] = torch.where(write, step[:, None], order[active])
        rewrites[active] += (remask | edit).long()
        nfe[active] += 1
        for callback in callbacks:
            callback(StepRecord(iteration, ctx, selection, xa))
        iteration += 1
        keep = (xa == frozen.mask_id).any(-1) | revisit
        active = active[keep]
    return SampleResult(tokens=x, order=order, nfe=nfe, rewrites=rewrites)
