"""The policy interface, and the score + budget composition most heuristics are.

A policy answers, at each step, which still-masked positions to unmask. Most heuristics are
a *score* (which positions first) combined with a *budget* (how many this step); they are kept
apart so that any score composes with any budget (docs/design.md section 2).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch

from .blocks import check_block_length, check_origin, current_block
from .context import StepContext, check_token_ids
from .ranking import check_alg_temp, rank
from .views import check_distribution, token_view

NEG_INF = float("-inf")


@dataclass
class Selection:
    """One step's decision (docs/design.md, "Remasking").

    chosen:  `[batch, length]` bool, masked positions to unmask this step (the set r_k).
    scores:  `[batch, length]` the policy's scores, for traces.
    remask:  `[batch, length]` bool, filled non-given positions to set back to the mask.
    edit:    `[batch, length]` bool, filled non-given positions whose token is replaced in place.
    tokens:  `[batch, length]` long, the token to write at chosen/edit positions where it is
             >= 0 (a policy restoring a board it remembers); elsewhere the loop draws one.
    banned:  `[batch, length, vocab]` bool, tokens the loop must not draw at this step.
    revisit: `[batch]` bool, rows that take another step even when no position is masked
             (a verification call on a completed sequence).
    Only `chosen` is needed; one-pass policies leave the rest None.
    """
    chosen: torch.Tensor
    scores: torch.Tensor | None = None
    remask: torch.Tensor | None = None
    edit: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    banned: torch.Tensor | None = None
    revisit: torch.Tensor | None = None


class Policy(ABC):
    """One unmasking strategy. Its settings are its constructor arguments.

    `needs_hidden`: whether `select` reads `ctx.hidden` (the denoiser then returns it).
    `revises`: whether the policy may remask or edit filled positions or revisit completed
        rows; such a policy must bound its calls (`max_nfe`), and `sample()` enforces it.
    `allows_empty_steps`: whether `select` may choose no position for a row (Dream's step
        schedule does, at steps where int(n (1 - s/t)) = 0): the loop then accepts an empty
        selection, which still costs that row a denoiser call.
    `max_nfe`: the calls per sequence the policy promises not to exceed, or None.
    """

    needs_hidden: bool = False
    revises: bool = False
    allows_empty_steps: bool = False
    max_nfe: int | None = None

    def check_max_nfe(self, max_nfe: int) -> None:
        """Raise if `max_nfe` calls per sequence are fewer than the policy needs."""

    def check_denoiser(self, denoiser) -> None:
        """Called once per `sample()` call with the FrozenDenoiser, before any step; a policy
        tied to one denoiser (a trained planner) raises here if it is another."""

    def init_state(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> Any:
        """Per-call state, made once per `sample()` call over the whole batch `[batch, length]`.
        Stateless policies return None. State is indexed by `ctx.rows`. `generator`: the call's
        torch.Generator or None, or its `planner.row_random.RowStreams` when `sample()` was
        given per-row seeds (draw from each row's own stream then)."""
        return None

    @abstractmethod
    def select(self, ctx: StepContext, state: Any) -> Selection:
        """Choose a subset of `ctx.masked` for every row, non-empty unless
        `allows_empty_steps`."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_")
                         and not isinstance(v, (Score, Budget)))
        return f"{type(self).__name__}({args})"


class Score(ABC):
    """Higher means unmask sooner. Returns `[batch, length]`; non-masked entries are ignored."""

    @abstractmethod
    def __call__(self, ctx: StepContext) -> torch.Tensor: ...


class Budget(ABC):
    """How many of the top-ranked positions to unmask this step.

    scores: `[batch, length]` with -inf at unmasked positions; ranked: `[batch, length]`
    position indices sorted by descending score. Returns `[batch]` long counts; the caller
    clamps them to [1, n_masked], or to [0, n_masked] when `allows_zero` (a budget that may
    unmask nothing at a step, as Dream's schedule does).
    """

    allows_zero: bool = False
    max_nfe: int | None = None   # the calls per sequence a budget that allows zero never exceeds

    @abstractmethod
    def __call__(self, ctx: StepContext, scores: torch.Tensor, ranked: torch.Tensor) -> torch.Tensor: ...


def take_top(ranked: torch.Tensor, k: torch.Tensor, length: int) -> torch.Tensor:
    """`[batch, length]` bool with the first `k[b]` positions of `ranked[b]` set."""
    take_sorted = torch.arange(length, device=ranked.device)[None, :] < k[:, None]
    chosen = torch.zeros_like(take_sorted)
    return chosen.scatter(1, ranked, take_sorted)


class ScoredPolicy(Policy):
    """Unmask the `budget` highest-`score` masked positions.

    block_length: None, or semi-AR blocks (`planner.blocks`): each step scores and budgets
    only the masked positions of the current block (Fast-dLLM's threshold and factor rules in
    blocks). block_origin: "generated" (blocks start at the first generated position, the
    references') or "sequence". alg_temp: see `planner.ranking.rank`. distribution: "model" ranks on the
    denoiser's distribution p (LLaDA, Fast-dLLM, PC-sampler); "sampling" ranks on, and draws
    the tokens from, the tempered and top-p / top-k filtered distribution (Dream;
    `StepContext.sampling_view`). top_p, top_k: Dream's filters, only with "sampling".
    ban_tokens: token ids never written and left out of the scores' distribution (LLaDA's
    `logits_eos_inf` bans its EOS id).
    """

    def __init__(self, score: Score, budget: Budget, *, block_length: int | None = None,
                 block_origin: str = "generated", alg_temp: float | None = None,
                 distribution: str = "model", top_p: float | None = None, top_k: int | None = None,
                 ban_tokens=()):
        check_block_length(block_length)
        check_origin(block_origin)
        check_alg_temp(alg_temp)
        check_distribution(distribution, top_p, top_k)
        check_token_ids(ban_tokens, name="ban_tokens")
        self.score, self.budget = score, budget
        self.ban_tokens = tuple(ban_tokens)
        self.block_length, self.block_origin, self.alg_temp = block_length, block_origin, alg_temp
        self.distribution, self.top_p, self.top_k = distribution, top_p, top_k

    @property
    def allows_empty_steps(self) -> bool:
        return self.budget.allows_zero

    @property
    def max_nfe(self) -> int | None:
        """The bound on calls per sequence of a budget with empty steps (Dream's: T exactly)."""
        return self.budget.max_nfe

    def select(self, ctx: StepContext, state: Any = None) -> Selection:
        ctx, own_draw = token_view(ctx, self.distribution, self.top_p, self.top_k, self.ban_tokens)
        if self.block_length is not None:
            in_block, _, _ = current_block(ctx.masked, ctx.initial_masked, self.block_length,
                                           self.block_origin)
            ctx = ctx.restrict(in_block)
        scores = self.score(ctx).masked_fill(~ctx.masked, NEG_INF)
        ranked = rank(scores, ctx, self.alg_temp)
        k = self.budget(ctx, scores, ranked)
        k = torch.minimum(k.clamp(min=0 if self.budget.allows_zero else 1), ctx.n_masked)
        return Selection(take_top(ranked, k, scores.shape[1]), scores,
                         tokens=ctx.drawn if own_draw else None)

    def __repr__(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)!r}" for k in ("block_length", "alg_temp", "top_p", "top_k")
                        if getattr(self, k) is not None)
        extra += "".join(f", {k}={getattr(self, k)!r}" for k, default in
                         (("distribution", "model"), ("ban_tokens", ())) if getattr(self, k) != default)
        return f"{type(self).__name__}(score={self.score!r}, budget={self.budget!r}{extra})"
