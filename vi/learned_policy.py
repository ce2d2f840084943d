"""The learned planner: the prior P_theta of the variational order model (docs/design.md,
section 3), trained by `python -m experiments.train_planner`, as an unmasking policy. `import
vi` registers it in the planner's registry as `learned` (vi/__init__.py).

At each step the network reads the frozen denoiser's per-position statistics at the current
state and gives every masked position an inclusion probability p_i; the subset is drawn from
the non-empty Bernoulli distribution (`mode="sample"`), or chosen deterministically: every
position with p_i > threshold, else the single most likely one (`mode="deterministic"`).
A beta-conditioned planner takes the price per denoiser call `beta` (nats) as an input:
raising it trades accuracy for fewer calls. `mode="ranked"` instead reveals the
highest-logit positions on an even schedule of exactly `steps` calls (steps None: one per
step), whatever the planner's own count would be. A planner of the singleton family (LO-ARM,
one position per step) reveals its most likely position whatever `threshold`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from denoiser.paths import resolve_folder
from planner.context import StepContext
from planner.policy import Policy, Selection

MODES = ("deterministic", "sample", "ranked")
SHIPPED = "weights/sudoku-planner"
# the knobs `load_policy("learned")` starts from: those of experiments/configs/policy/learned.yaml
DEFAULTS = {"path": SHIPPED, "beta": 0.02, "mode": "deterministic", "threshold": 0.5,
            "steps": None}


class Learned(Policy):
    def __init__(self, path: str, beta: float = 0.1, mode: str = "deterministic",
                 threshold: float = 0.5, steps: int | None = None):
        from .checkpoint import load_planner
        from .policy import LearnedPlanner

        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0 (nats per denoiser call), got {beta!r}")
        self.path = Path(resolve_folder(path)).resolve()
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
            raise ValueError(f"steps must be None or a positive integer (denoiser calls), got "
                             f"{steps!r}")
        if steps is not None and mode != "ranked":
            raise ValueError(f"steps={steps!r} is the schedule of mode='ranked', got mode={mode!r}")
        self.beta, self.mode, self.threshold, self.steps = beta, mode, threshold, steps
        prior, self._config = load_planner(self.path)
        self._planner = LearnedPlanner(prior, beta=beta, sample=mode == "sample", threshold=threshold,
                                       ranked=mode == "ranked", steps=steps)
        self.needs_hidden = self._planner.needs_hidden

    def check_denoiser(self, denoiser) -> None:
        from .checkpoint import check_planner_for
        check_planner_for(self._config, self.path, denoiser)
        self._planner.prior.check_denoiser(denoiser)     # its frozen inputs, if any

    def select(self, ctx: StepContext, state: Any = None) -> Selection:
        return self._planner.select(ctx, state)

    def __repr__(self) -> str:
        steps = "" if self.steps is None else f", steps={self.steps}"
        return f"Learned(beta={self.beta}, mode={self.mode!r}, threshold={self.threshold}{steps})"
