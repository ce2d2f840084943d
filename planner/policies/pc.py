"""PC-sampler: position-aware calibration (Huang et al. 2025, "PC-Sampler: Position-Aware
Calibration of Decoding Bias in Masked Diffusion Models", arXiv:2508.13021).

Score of a masked position i, with v1 = argmax_v p_i(v):

    s_i = exp(-lambda * pos_i) * min(-p_i(v1) * log f_bg(v1), alpha)

- pos_i is the position's distance from the start of the generated region: i minus the index
  of the row's first initially-masked position (the paper's `i - prompt_length`; for Sudoku
  the cell index counted from the first blank). lambda = 0 switches the positional decay off.
- f_bg is a background token frequency from the task's training data (`planner.background`):
  tokens common in the data (text's "the", ",") get less credit than rare, informative ones.
  For Sudoku every digit occurs 9 times per grid, so f_bg is uniform on 1..9 and the score is
  a multiple of the confidence.
- alpha clips the calibrated confidence.

Budget: `k` per step from the step schedule (`planner.budgets.StepSchedule`). The authors'
settings are lambda = 0.25 for text and lambda = 0 for Sudoku, alpha = 10 throughout.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..background import check_frequency, load_frequency
from ..budgets import StepSchedule
from ..context import StepContext
from ..policy import ScoredPolicy, Score

REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_frequency(frequency) -> tuple[torch.Tensor, str]:
    """A path (absolute, or relative to the repo root) or an inline list -> `[V]` frequencies."""
    if isinstance(frequency, (str, Path)):
        path = Path(frequency)
        if not path.is_absolute():
            path = REPO_ROOT / path
        return load_frequency(path), str(frequency)
    if isinstance(frequency, (list, tuple, torch.Tensor)):
        return check_frequency(frequency), "inline"
    raise TypeError(f"frequency must be a path to a JSON file or a list of per-token frequencies, "
                    f"got {type(frequency).__name__}")


class PositionCalibrated(Score):
    def __init__(self, lam: float, alpha: float, log_freq: torch.Tensor):
        self.lam, self.alpha, self.log_freq = lam, alpha, log_freq

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        vocab = ctx.logits.shape[-1]
        if self.log_freq.numel() != vocab:
            raise ValueError(f"the background frequency has {self.log_freq.numel()} entries but the "
                             f"denoiser's vocabulary has {vocab}: it was computed for another task")
        values, ids = ctx.top2
        confidence, v1 = values[..., 0].double(), ids[..., 0]
        calibrated = (-confidence * self.log_freq.to(v1.device)[v1]).clamp(max=self.alpha)
        length = ctx.masked.shape[1]
        start = ctx.initial_masked.long().argmax(-1, keepdim=True)    # first generated position
        pos = (torch.arange(length, device=v1.device)[None, :] - start).clamp(min=0)
        return torch.exp(-self.lam * pos.double()) * calibrated

    def __repr__(self) -> str:
        return f"PositionCalibrated(lam={self.lam}, alpha={self.alpha})"


class PCSampler(ScoredPolicy):
    def __init__(self, lam: float = 0.0, alpha: float = 10.0, steps: int | None = None,
                 schedule: str = "even", frequency="weights/background/sudoku.json"):
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not (0 <= lam < math.inf):
            raise ValueError(f"lam (lambda) must be a finite number >= 0, got {lam!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
        freq, self.frequency = resolve_frequency(frequency)
        self.lam, self.alpha = float(lam), float(alpha)
        super().__init__(PositionCalibrated(self.lam, self.alpha, freq.log()),
                         StepSchedule(steps, schedule))
