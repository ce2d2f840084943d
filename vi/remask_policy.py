"""`RemaskPlanner`: decode with a one-pass rule and let a remasking network send filled
tokens back to the mask at every step (docs/design.md, "Remasking").

Each call the network (`vi.remask.RemaskNet`, or the oracle posterior during training)
scores every revisable position from the denoiser's view of its written token
(`vi.remask.remask_features`); the positions it picks are remasked, and their token is
banned there until the row is complete again, so the next write differs. The unmasking
choice is the inner one-pass rule's, on the state with the bans applied. A row that
completes takes one more call (a verification: the network sees the complete board) and
ends when the network remasks nothing there, or at `max_nfe`.

The remask choice is `sample` (draw from the Bernoulli probabilities: how training
trajectories are made) or deterministic (every position with probability > threshold).
`record`, when a list, receives one `(features, available, remask)` triple per call (the
trainer's view of the trajectory; CPU tensors of the active rows).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

import torch

from planner.context import StepContext
from planner.policy import NEG_INF, Policy, ScoredPolicy, Selection
from planner.revision import check_count, check_number, revisable

from .remask import draw, remask_distribution, remask_features

LogitFn = Callable[[torch.Tensor, StepContext], torch.Tensor]


class RemaskPlanner(Policy):
    revises = True

    def __init__(self, logit_fn: LogitFn, inner: str = "factor", inner_knobs: dict | None = None,
                 *, sample: bool = False, threshold: float = 0.5, max_nfe: int = 111,
                 record: list | None = None):
        from planner.registry import load_policy

        policy = load_policy(inner, **dict(inner_knobs or {}))
        if not isinstance(policy, ScoredPolicy) or policy.revises:
            raise ValueError(f"inner must name a one-pass score + budget policy, got {inner!r} "
                             f"({type(policy).__name__})")
        self.logit_fn, self._inner = logit_fn, policy
        self.inner, self.inner_knobs = inner, dict(inner_knobs or {})
        self.sample = bool(sample)
        self.threshold = check_number(threshold, "threshold", low=0.0, high=1.0,
                                      open_low=True, open_high=True)
        self.max_nfe = check_count(max_nfe, "max_nfe", minimum=2)
        self.record = record

    def init_state(self, initial_masked: torch.Tensor, generator) -> dict:
        return {"written": torch.full(initial_masked.shape, -1, dtype=torch.long),
                "banned": None}

    def _banned(self, ctx: StepContext, state) -> torch.Tensor:
        if state["banned"] is None:
            shape = (state["written"].shape[0], *ctx.logits.shape[1:])
            state["banned"] = torch.zeros(shape, dtype=torch.bool)
        return state["banned"][ctx.rows.cpu()].to(ctx.logits.device)

    def select(self, ctx: StepContext, state: Any) -> Selection:
        rows = ctx.rows.cpu()
        written = state["written"][rows].to(ctx.tokens.device)
        banned = self._banned(ctx, state)
        complete = ~ctx.masked.any(-1)
        banned[complete] = False                      # a complete board starts its bans afresh
        log_probs = torch.log_softmax(ctx.logits.float(), -1)
        age = torch.where(written >= 0, ctx.step[:, None] - written, torch.zeros_like(written))
        features = remask_features(log_probs, ctx.tokens, ctx.masked, ctx.initial_masked, age)
        last = ctx.last_call if ctx.last_call is not None else torch.zeros_like(complete)
        available = revisable(ctx) & ~last[:, None]
        with torch.no_grad():
            logits = self.logit_fn(features, ctx)
        if self.sample:
            remask = draw(remask_distribution(logits, available), available, ctx.generator,
                          None if ctx.streams is None else lambda shape: ctx.rand(*shape))
        else:
            remask = (torch.sigmoid(logits) > self.threshold) & available
        if self.record is not None:
            self.record.append((features.cpu(), available.cpu(), remask.cpu()))

        cells = torch.nonzero(remask)
        banned[cells[:, 0], cells[:, 1], ctx.tokens[cells[:, 0], cells[:, 1]]] = True
        # a masked cell keeps at least one token it may take
        allowed = torch.isfinite(ctx.logits) & ~banned
        starved = (ctx.masked | remask) & ~allowed.any(-1)
        banned[starved] = False
        sub = replace(ctx, logits=ctx.logits.masked_fill(banned, NEG_INF), extras={})
        chosen = self._inner.select(sub, None).chosen & ctx.masked
        stuck = ~complete & ~chosen.any(-1)           # the inner rule always picks one; guard
        if stuck.any():
            chosen[stuck] = ctx.masked[stuck]

        state["written"][rows] = torch.where(chosen, ctx.step[:, None], written
                                             ).masked_fill(remask, -1).cpu()
        state["banned"][rows] = banned.cpu()
        completes = ~complete & ((ctx.masked & ~chosen).sum(-1) == 0)
        revisit = completes | (complete & remask.any(-1))
        return Selection(chosen, scores=logits, remask=remask, banned=banned, revisit=revisit)

    def __repr__(self) -> str:
        return (f"RemaskPlanner(inner={self.inner!r}, sample={self.sample}, "
                f"threshold={self.threshold}, max_nfe={self.max_nfe})")
