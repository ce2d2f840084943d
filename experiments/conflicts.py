"""Within-step conflicts on Sudoku: two cells committed in the same step, in one row, column
or box, with the same digit (a `run_policy(on_step=...)` callback, used by
`experiments.failures`).

Per evaluation set it counts the steps that committed several cells, the steps among them
with a conflict, the sequences with at least one, and (given each failed sequence's first
wrong step, `experiments.failures.FirstErrors`) whether the first wrong step held a conflict.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from planner import StepRecord


def peer_matrix() -> torch.Tensor:
    """`[81, 81]` bool: two different cells of one row, column or box."""
    from tasks.sudoku.board import relation_ids
    return (relation_ids() > 0) & ~torch.eye(81, dtype=torch.bool)


def conflicted(chosen: torch.Tensor, tokens: torch.Tensor, peers: torch.Tensor) -> torch.Tensor:
    """`[batch]` bool: some two peers in `chosen` `[batch, length]` hold the same token."""
    both = chosen[:, :, None] & chosen[:, None, :] & peers
    same = tokens[:, :, None] == tokens[:, None, :]
    return (both & same).flatten(1).any(-1)


@dataclass
class WithinStepConflicts:
    """steps: steps taken; multi: steps that committed >= 2 cells; conflict: steps with a
    within-step conflict; by_sequence: data index -> the steps (ctx.step, 0-based) with one."""

    steps: int = 0
    multi: int = 0
    conflict: int = 0
    by_sequence: dict[int, list[int]] = field(default_factory=dict)
    peers: torch.Tensor = field(default_factory=peer_matrix)

    def __call__(self, start: int, record: StepRecord) -> None:
        chosen, tokens = record.selection.chosen.cpu(), record.tokens.cpu()
        if chosen.shape[1] != self.peers.shape[0]:
            raise ValueError(f"within-step conflicts are defined on Sudoku's 81 cells, got "
                             f"sequences of {chosen.shape[1]}")
        self.steps += chosen.shape[0]
        self.multi += int((chosen.sum(-1) >= 2).sum())
        hit = conflicted(chosen, tokens, self.peers)
        self.conflict += int(hit.sum())
        index = record.ctx.rows.cpu() + start
        for b in torch.nonzero(hit).squeeze(1).tolist():
            self.by_sequence.setdefault(int(index[b]), []).append(int(record.ctx.step[b]))

    def summary(self, correct: torch.Tensor, first_wrong_step: dict[int, int]) -> dict:
        """Rates over the run; `first_wrong_step`: failed data index -> the step of its first
        wrong commit (the same 0-based ctx.step)."""
        n = correct.numel()
        failed = torch.nonzero(~correct).squeeze(1).tolist()
        with_conflict = set(self.by_sequence)
        at_first = sum(first_wrong_step.get(i) in self.by_sequence.get(i, ()) for i in failed)
        return {"steps": self.steps, "multi_steps": self.multi, "conflict_steps": self.conflict,
                "conflict_step_rate": self.conflict / max(self.steps, 1),
                "conflict_rate_of_multi_steps": self.conflict / max(self.multi, 1),
                "sequences_with_conflict": len(with_conflict) / max(n, 1),
                "failed_with_conflict": (sum(i in with_conflict for i in failed) / len(failed)
                                         if failed else 0.0),
                "failed_conflict_at_first_wrong": at_first / len(failed) if failed else 0.0}
