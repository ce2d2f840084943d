"""Self-verified restarts over the correctness planner, `learned_backtrack` (issues 13 and 14).

`planner.policies.backtrack.Backtrack` with the learned unmasking policy inside: each pass
decodes with `learned_correct` (`vi.learned_correct_policy`, at f 0.5 about 9 calls), the
completed board is verified by its lowest p(token | board) under the denoiser, and a board
below `accept` is remasked whole and decoded again by the same planner on logits perturbed by
`perturb` times Gumbel noise (another order), keeping the best-verified board, within
`max_nfe` calls. Which cells to unmask is learned (maximum likelihood on the sampler's own
states, not VI); when and what to remask is the denoiser's verifier, not learned. The knobs
(f 0.5, perturb 0.3) were chosen on validation rows 4505, 4514, ...
(experiment=sudoku_fix_learned_select), outside the bar and the correctness model's
training rows.
"""
from __future__ import annotations

from planner.policies.backtrack import Backtrack

INNER_KNOBS = {"f": 0.5}


class LearnedBacktrack(Backtrack):
    def __init__(self, inner: str | list | tuple = "learned_correct",
                 inner_knobs: dict | list | tuple | None = None, accept: float = 0.8,
                 max_nfe: int = 111, mode: str = "restart", target: str = "weakest",
                 check: str = "complete", trigger: float = 0.05, perturb: float = 0.3,
                 keep_best: bool = True):
        super().__init__(inner=inner, inner_knobs=dict(INNER_KNOBS) if inner_knobs is None
                         else inner_knobs, accept=accept, max_nfe=max_nfe, mode=mode,
                         target=target, check=check, trigger=trigger, perturb=perturb,
                         keep_best=keep_best)
