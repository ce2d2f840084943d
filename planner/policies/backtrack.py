"""Self-verified backtracking: decode with a one-pass policy, verify the completed sequence by
the denoiser's own scores of its tokens, and go back where it fails (docs/design.md,
"Remasking"). Task-agnostic: it reads only the denoiser.

Verification: when no position is masked, the row takes one more call; the board passes when
the lowest p_i(x_i | board) over its non-given positions is at least `accept`. A row that
passes ends there. One that fails goes back (`mode`):

- `backtrack`: take the target cell w (`target`: `weakest`, the lowest-scoring cell, or
  `earliest`, the earliest-committed of the cells scoring below `accept`), remask every
  non-given cell committed at or after w's commit step (the state as it was before w), ban
  w's token at w, and decode again from there;
- `restart`: remask every non-given cell and decode again, the inner policy's scores
  perturbed by `perturb` times Gumbel noise so that the next pass takes another order.

`check: every_step` also goes back during decoding, before a completed board, as soon as a
filled cell's probability in the current context falls below `trigger`.
`keep_best`: the best-verified board so far (by its lowest cell score) is restored in the last
call `max_nfe` allows, if the board then in hand is incomplete or scores lower.

`inner` is one policy or a list (with `inner_knobs` one dict or a list of them): pass p of a
row (its restarts so far) decodes with inner policy p mod len(inner), a portfolio of orders.
Each must be a one-pass `ScoredPolicy` whose budget does not count calls (one position per
step or an adaptive rule: `steps: null`, threshold, factor, EB): it sees the row's total calls
in `ctx.step`, which go on growing across passes. At a temperature > 0 an inner score that
reads the sampled token's probability ranks its own draw, not the one the loop writes.
"""
from __future__ import annotations

import torch

from ..context import StepContext
from ..policy import NEG_INF, Policy, ScoredPolicy, Selection
from ..revision import check_count, check_number, committed_prob, revisable

MODES = ("backtrack", "restart")
# the default portfolio, chosen on validation rows 4, 13, 22, ... (docs/results/sudoku_fix.md)
PORTFOLIO = ("factor", "factor_margin", "threshold", "eb", "topk_margin")
PORTFOLIO_KNOBS = ({"f": 0.2}, {"f": 0.3}, {"tau": 0.97}, {"gamma": 0.01}, {})
TARGETS = ("weakest", "earliest")
CHECKS = ("complete", "every_step")


class Backtrack(Policy):
    revises = True

    def __init__(self, inner: str | list | tuple = PORTFOLIO,
                 inner_knobs: dict | list | tuple | None = PORTFOLIO_KNOBS,
                 accept: float = 0.8, max_nfe: int = 111, mode: str = "restart",
                 target: str = "weakest", check: str = "complete", trigger: float = 0.05,
                 perturb: float = 0.1, keep_best: bool = True):
        from ..registry import load_policy

        names = [inner] if isinstance(inner, str) else list(inner)
        knobs = (list(inner_knobs) if isinstance(inner_knobs, (list, tuple))
                 else [inner_knobs] * len(names))
        knobs = [dict(kw or {}) for kw in knobs]
        if not names or len(knobs) != len(names):
            raise ValueError(f"inner names {len(names)} policies but inner_knobs gives "
                             f"{len(knobs)} settings; expected one per policy")
        self._inners = []
        for name, kw in zip(names, knobs):
            policy = load_policy(name, **(kw or {}))
            if not isinstance(policy, ScoredPolicy) or policy.revises:
                raise ValueError(f"inner must name one-pass score + budget policies, got {name!r} "
                                 f"({type(policy).__name__})")
            self._inners.append(policy)
        self.inner, self.inner_knobs = names, knobs
        self.accept = check_number(accept, "accept", low=0.0, high=1.0, open_low=True, open_high=True)
        self.max_nfe = check_count(max_nfe, "max_nfe", minimum=2)
        for name, value, allowed in (("mode", mode, MODES), ("target", target, TARGETS),
                                     ("check", check, CHECKS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        self.mode, self.target, self.check = mode, target, check
        self.trigger = check_number(trigger, "trigger", low=0.0, high=1.0, open_low=True, open_high=True)
        self.perturb = check_number(perturb, "perturb", low=0.0)
        if not isinstance(keep_best, bool):
            raise ValueError(f"keep_best must be true or false, got {keep_best!r}")
        self.keep_best = keep_best

    def init_state(self, initial_masked: torch.Tensor, generator):
        batch, length = initial_masked.shape
        return {"commit": torch.full((batch, length), -1, dtype=torch.long),
                "banned": None,
                "best": torch.full((batch, length), -1, dtype=torch.long),
                "best_score": torch.full((batch,), -1.0, dtype=torch.float64),
                "passes": torch.zeros(batch, dtype=torch.long)}

    # --- pieces -------------------------------------------------------------------------------
    def _banned(self, ctx: StepContext, state) -> torch.Tensor:
        if state["banned"] is None:
            batch_all = state["commit"].shape[0]
            state["banned"] = torch.zeros((batch_all, *ctx.logits.shape[1:]), dtype=torch.bool)
        return state["banned"][ctx.rows.cpu()].to(ctx.logits.device)

    def _decode(self, ctx: StepContext, banned: torch.Tensor, state) -> tuple[torch.Tensor, torch.Tensor]:
        """The inner policy's choice on the state with the banned tokens removed. Pass p of a
        row (restarts so far) uses inner policy p mod len(inner); once the list is used up,
        it reads logits perturbed by `perturb` times Gumbel noise (so its score and its budget
        both read the same perturbed beliefs; the loop still draws from the true ones)."""
        logits = ctx.logits.masked_fill(banned, NEG_INF)
        passes = state["passes"][ctx.rows.cpu()].to(logits.device)
        wrapped = passes >= len(self._inners)
        if self.perturb > 0 and bool(wrapped.any()):
            u = ctx.rand(*logits.shape, where=wrapped).clamp(min=1e-30)
            gumbel = -torch.log((-torch.log(u)).clamp(min=1e-30))
            logits = torch.where(wrapped[:, None, None], logits + self.perturb * gumbel, logits)
        chosen = torch.zeros_like(ctx.masked)
        scores = torch.full(ctx.masked.shape, NEG_INF, dtype=torch.float32, device=logits.device)
        which = passes % len(self._inners)
        for i, policy in enumerate(self._inners):
            idx = torch.nonzero(which == i).squeeze(1)
            if not idx.numel():
                continue
            selection = policy.select(ctx.take_rows(idx, logits[idx]), None)
            chosen[idx] = selection.chosen
            if selection.scores is not None:
                scores[idx] = selection.scores.float()
        return chosen, scores

    def _go_back(self, ctx: StepContext, rows_back: torch.Tensor, cell_p: torch.Tensor,
                 commit: torch.Tensor, banned: torch.Tensor) -> torch.Tensor:
        """`[batch, length]` bool cells to remask for the rows going back; updates bans."""
        filled = revisable(ctx)
        if self.mode == "restart":
            return filled & rows_back[:, None]
        masked_p = cell_p.masked_fill(~filled, 2.0)
        weakest = masked_p.argmin(-1)
        target = weakest
        if self.target == "earliest":
            doubtful = filled & (cell_p < self.accept)
            step_of = commit.masked_fill(~doubtful, torch.iinfo(torch.long).max)
            earliest = step_of.argmin(-1)
            target = torch.where(doubtful.any(-1), earliest, weakest)
        idx = torch.arange(ctx.tokens.shape[0], device=ctx.tokens.device)
        k = commit[idx, target]
        remask = filled & (commit >= k[:, None]) & rows_back[:, None]
        remask[idx, target] |= rows_back
        token = ctx.tokens[idx, target]
        allowed = torch.isfinite(ctx.logits[idx, target]) & ~banned[idx, target]
        exhausted = allowed.sum(-1) <= 1          # banning the last allowed token: start over there
        for b in torch.nonzero(rows_back).squeeze(1).tolist():
            cell = int(target[b])
            if bool(exhausted[b]):
                banned[b, cell] = False
            banned[b, cell, int(token[b])] = True
        return remask

    # --- the step -----------------------------------------------------------------------------
    def select(self, ctx: StepContext, state) -> Selection:
        rows = ctx.rows.cpu()
        banned = self._banned(ctx, state)
        # a masked cell keeps at least one token it may take: bans that would leave it none
        # are lifted there (neither the inner policy nor the loop could choose one)
        starved = ctx.masked & ~(torch.isfinite(ctx.logits) & ~banned).any(-1)
        if starved.any():
            banned[starved] = False
        commit = state["commit"][rows].to(ctx.tokens.device)
        cell_p = committed_prob(ctx)
        filled = revisable(ctx)
        complete = ~ctx.masked.any(-1)
        board_score = cell_p.masked_fill(~filled, 1.0).min(-1).values.double()
        passed = complete & (board_score >= self.accept)
        go_back = complete & ~passed
        if self.check == "every_step":
            go_back |= ~complete & (filled & (cell_p < self.trigger)).any(-1)
        last = ctx.last_call if ctx.last_call is not None else torch.zeros_like(complete)
        go_back &= ~last

        if self.keep_best:
            better = complete & (board_score > state["best_score"][rows].to(board_score.device))
            if better.any():
                b_rows = rows[better.cpu()]
                state["best"][b_rows] = ctx.tokens[better].cpu()
                state["best_score"][b_rows] = board_score[better].cpu()

        chosen, scores = self._decode(ctx, banned, state)
        chosen &= ~go_back[:, None]
        remask = self._go_back(ctx, go_back, cell_p, commit, banned)
        commit = torch.where(chosen, ctx.step[:, None], commit).masked_fill(remask, -1)
        state["commit"][rows] = commit.cpu()
        state["banned"][rows] = banned.cpu()
        if self.mode == "restart":
            state["passes"][rows] += go_back.long().cpu()

        edit, tokens = None, None
        if self.keep_best and last.any():
            best = state["best"][rows].to(ctx.tokens.device)
            have = (best >= 0).any(-1) & last
            worse = ~complete | (board_score < state["best_score"][rows].to(board_score.device))
            restore = have & worse
            if restore.any():
                tokens = torch.where(restore[:, None], best, torch.full_like(best, -1))
                edit = filled & restore[:, None] & (ctx.tokens != best)
                chosen = torch.where(restore[:, None], ctx.masked, chosen)
        will_complete = (ctx.masked & ~chosen).sum(-1) == 0
        revisit = (~passed & will_complete & ~go_back) | go_back
        return Selection(chosen, scores=scores, remask=remask, edit=edit, tokens=tokens,
                         banned=banned, revisit=revisit)
