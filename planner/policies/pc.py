"""PC-sampler: position-aware calibration (Huang et al. 2025, "PC-Sampler: Position-Aware
Calibration of Decoding Bias in Masked Diffusion Models", arXiv:2508.13021).

Score of a masked position i, with x0_i the token this step writes there (the argmax when
greedy, the sampled token otherwise, as PC-sampler's `x0`: score and written token are the
same token, also at a tied top-2):

    s_i = exp(-lambda * pos_i) * min(-p_i(x0_i) * log(f_bg(x0_i) + eps), alpha)

- pos_i is the position's distance from the start of its block: the row's first generated
  position without blocks (the paper's `i - prompt_length`; for Sudoku the cell index counted
  from the first blank), the start of the current semi-AR block with `block_length` (PC-sampler
  restarts its positional decay in each block). lambda = 0 switches the positional decay off.
- f_bg is a background token frequency from the task's training data (`planner.background`):
  tokens common in the data (text's "the", ",") get less credit than rare, informative ones.
  For Sudoku every digit occurs 9 times per grid, so f_bg is uniform on 1..9 and the score is
  a multiple of the confidence. eps = 1e-9 is PC-sampler's.
- alpha clips the calibrated confidence; clipped positions tie, and ties go to the lowest
  position.

position="linear" is PC-sampler's `linear_position` variant: s_i = (1 - lambda) * c~_i +
lambda * (L - pos_i) / L, with c~ the clipped calibrated confidence min-max normalised over the
block's masked positions (PC-sampler normalises over all positions of the block slice, the
already-decoded ones included: a documented difference) and L the block's length.

Budget: `k` per step from the step schedule (`planner.budgets.StepSchedule`); with
`block_length`, the LLaDA semi-AR budget (`semi_ar`), blocks relative to the generated region.
The authors' settings are lambda = 0.25 for text and lambda = 0 for Sudoku, alpha = 10
throughout.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..background import check_frequency, load_frequency
from ..budgets import StepSchedule
from ..blocks import block_start, check_block_length, current_block
from ..context import StepContext
from ..policy import Policy, ScoredPolicy, Score
from .semi_ar import SemiAutoregressive

POSITIONS = ("exponential", "linear")

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
    def __init__(self, lam: float, alpha: float, log_freq: torch.Tensor,
                 block_length: int | None = None, position: str = "exponential"):
        self.lam, self.alpha, self.log_freq = lam, alpha, log_freq
        self.block_length, self.position = block_length, position

    def _offset(self, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
        """Each position's distance from its block's start, and the block length `[batch, 1]`."""
        length = ctx.masked.shape[1]
        if self.block_length is None:
            start = block_start(ctx.initial_masked, "generated")
            offset = torch.arange(length, device=ctx.masked.device)[None, :] - start
            return offset.clamp(min=0), length - start
        _, _, offset = current_block(ctx.masked, ctx.initial_masked, self.block_length, "generated")
        return offset.clamp(min=0), torch.full_like(offset[:, :1], self.block_length)

    def __call__(self, ctx: StepContext) -> torch.Tensor:
        vocab = ctx.logits.shape[-1]
        if self.log_freq.numel() != vocab:
            raise ValueError(f"the background frequency has {self.log_freq.numel()} entries but the "
                             f"denoiser's vocabulary has {vocab}: it was computed for another task")
        x0 = ctx.drawn
        calibrated = (-ctx.sampled_confidence * self.log_freq.to(x0.device)[x0]).clamp(max=self.alpha)
        pos, span = self._offset(ctx)
        if self.position == "exponential":
            return torch.exp(-self.lam * pos.double()) * calibrated
        inf = torch.tensor(float("inf"), dtype=calibrated.dtype, device=calibrated.device)
        lo = torch.where(ctx.masked, calibrated, inf).min(-1, keepdim=True).values
        hi = torch.where(ctx.masked, calibrated, -inf).max(-1, keepdim=True).values
        normalised = (calibrated - lo) / (hi - lo).clamp(min=1e-9)
        return (1 - self.lam) * normalised + self.lam * (span - pos).double() / span.double()

    def __repr__(self) -> str:
        return (f"PositionCalibrated(lam={self.lam}, alpha={self.alpha}, "
                f"block_length={self.block_length}, position={self.position!r})")


class PCSampler(Policy):
    def __init__(self, lam: float = 0.0, alpha: float = 10.0, steps: int | None = None,
                 schedule: str = "even", frequency="weights/background/sudoku.json",
                 block_length: int | None = None, position: str = "exponential",
                 eps: float = 1e-9):
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not (0 <= lam < math.inf):
            raise ValueError(f"lam (lambda) must be a finite number >= 0, got {lam!r}")
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"alpha must be a number > 0, got {alpha!r}")
        if position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
        if position == "linear" and lam > 1:
            raise ValueError(f"lam (lambda) weighs position against confidence in the linear "
                             f"variant and must be in [0, 1], got {lam!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 1:
            raise ValueError(f"eps must be a number in [0, 1) (added to f_bg inside the log), got {eps!r}")
        check_block_length(block_length)
        freq, self.frequency = resolve_frequency(frequency)
        self.lam, self.alpha, self.eps = float(lam), float(alpha), float(eps)
        self.block_length, self.position, self.steps, self.schedule = block_length, position, steps, schedule
        score = PositionCalibrated(self.lam, self.alpha, (freq + self.eps).log(), block_length, position)
        self.score = score
        self._inner = (ScoredPolicy(score, StepSchedule(steps, schedule)) if block_length is None
                       else SemiAutoregressive(block_length, score, steps, block_origin="generated"))

    def init_state(self, initial_masked, generator):
        return self._inner.init_state(initial_masked, generator)

    def select(self, ctx: StepContext, state=None):
        return self._inner.select(ctx, state)

    def __repr__(self) -> str:
        return (f"PCSampler(lam={self.lam}, alpha={self.alpha}, steps={self.steps}, "
                f"schedule={self.schedule!r}, block_length={self.block_length}, "
                f"position={self.position!r}, eps={self.eps})")
