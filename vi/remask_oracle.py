"""Two remasking oracles (they see the solution): what a remasking planner could reach if it
knew what only the posterior knows (docs/design.md, "Remasking"; `experiments.remask_signal`).

- `wrong_token_logits`: a `RemaskPlanner` logit function that remasks exactly the filled
  tokens that differ from the solution, at the call after they are written (the posterior
  Q_phi of `vi.remask` with an infinite truth scale).
- `FirstWrongStep`: the self-verified backtracking of `planner.policies.backtrack` (a completed
  row is verified by its lowest p_i(x_i | board) against `accept`, with the denoiser's
  scores only), but on failure it goes back to the step of the *first wrong commit*, which
  only the solution tells: the cells written at or after that step are remasked and the
  weakest cell of that step (by the denoiser's score) has its token banned. `ban: oracle`
  bans the wrong cells of that step instead. A false alarm (a failed check on a right board)
  restarts the row.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from planner.context import StepContext
from planner.policy import NEG_INF, Policy, ScoredPolicy, Selection
from planner.revision import check_count, check_number, committed_prob, revisable

from .remask import oracle_logits

BANS = ("weakest", "oracle")


def references_of(references: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    if int(ctx.rows.max()) >= references.shape[0]:
        raise ValueError(f"row {int(ctx.rows.max())} of the batch has no reference: the oracle "
                         f"holds {references.shape[0]}")
    return references.to(ctx.tokens.device)[ctx.rows]


def wrong_token_logits(references: torch.Tensor, truth_scale: float = 30.0):
    """A logit function for `RemaskPlanner`: +truth_scale at wrong filled tokens, -truth_scale
    at right ones (references: `[batch, length]` the solutions of the sample() batch)."""
    references = references.long()

    def logits(features: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        x = references_of(references, ctx)
        return oracle_logits(torch.zeros_like(features[..., 0]), ctx.tokens, x, truth_scale)

    return logits


class FirstWrongStep(Policy):
    revises = True

    def __init__(self, references: torch.Tensor, inner: str = "factor",
                 inner_knobs: dict | None = None, accept: float = 0.8, max_nfe: int = 111,
                 ban: str = "weakest"):
        from planner.registry import load_policy

        self._inner = load_policy(inner, **dict(inner_knobs or {}))
        if not isinstance(self._inner, ScoredPolicy) or self._inner.revises:
            raise ValueError(f"inner must name a one-pass score + budget policy, got {inner!r}")
        if ban not in BANS:
            raise ValueError(f"ban must be one of {BANS}, got {ban!r}")
        self.references, self.inner, self.ban = references.long(), inner, ban
        self.accept = check_number(accept, "accept", low=0.0, high=1.0, open_low=True, open_high=True)
        self.max_nfe = check_count(max_nfe, "max_nfe", minimum=2)

    def init_state(self, initial_masked: torch.Tensor, generator) -> dict:
        return {"commit": torch.full(initial_masked.shape, -1, dtype=torch.long), "banned": None}

    def select(self, ctx: StepContext, state: Any) -> Selection:
        rows = ctx.rows.cpu()
        if state["banned"] is None:
            state["banned"] = torch.zeros((state["commit"].shape[0], *ctx.logits.shape[1:]),
                                          dtype=torch.bool)
        banned = state["banned"][rows].to(ctx.logits.device)
        commit = state["commit"][rows].to(ctx.tokens.device)
        x = references_of(self.references, ctx)
        filled = revisable(ctx)
        p = committed_prob(ctx)
        complete = ~ctx.masked.any(-1)
        last = ctx.last_call if ctx.last_call is not None else torch.zeros_like(complete)
        failed = complete & (p.masked_fill(~filled, 1.0).min(-1).values < self.accept) & ~last
        wrong = filled & (ctx.tokens != x)
        remask = torch.zeros_like(filled)
        for b in torch.nonzero(failed).squeeze(1).tolist():
            if not bool(wrong[b].any()):                 # a false alarm: start the row over
                remask[b] = filled[b]
                continue
            first = commit[b][wrong[b]].min()
            remask[b] = filled[b] & (commit[b] >= first)
            at_first = filled[b] & (commit[b] == first)
            if self.ban == "oracle":
                cells = torch.nonzero(wrong[b] & at_first).squeeze(1)
            else:
                cells = p[b].masked_fill(~at_first, 2.0).argmin().view(1)
            banned[b, cells, ctx.tokens[b, cells]] = True
        starved = (ctx.masked | remask) & ~(torch.isfinite(ctx.logits) & ~banned).any(-1)
        banned[starved] = False
        sub = replace(ctx, logits=ctx.logits.masked_fill(banned, NEG_INF), extras={})
        chosen = self._inner.select(sub, None).chosen & ctx.masked & ~failed[:, None]
        state["commit"][rows] = torch.where(chosen, ctx.step[:, None], commit).masked_fill(remask, -1).cpu()
        state["banned"][rows] = banned.cpu()
        completes = ~complete & ((ctx.masked & ~chosen).sum(-1) == 0)
        return Selection(chosen, remask=remask, banned=banned, revisit=completes | failed)

    def __repr__(self) -> str:
        return f"FirstWrongStep(inner={self.inner!r}, accept={self.accept}, ban={self.ban!r})"
