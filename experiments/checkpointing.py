"""The resumable part of a training run: `<run dir>/checkpoints/last.pt`, written atomically.

Besides the caller's states (model, optimizer, ...) it keeps the data generator, the global
torch RNG and the step, so a run killed at any moment and resumed with `resume=true` goes on
exactly as an unbroken run would (the tests check weights and curves are identical).
"""
from __future__ import annotations

from pathlib import Path

import torch

from denoiser.checkpoint import atomic_torch_save


class RunCheckpoint:
    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / "checkpoints" / "last.pt"

    def save(self, step: int, data_generator: torch.Generator, states: dict) -> None:
        atomic_torch_save({**states, "data_generator": data_generator.get_state(),
                           "torch_rng": torch.get_rng_state(), "step": step}, self.path)

    def restore(self, resume: bool, data_generator: torch.Generator) -> tuple[int, dict]:
        """(step, the saved states) when resuming from a checkpoint; (0, {}) otherwise. Restores
        the data generator and the global torch RNG in place."""
        if not resume:
            return 0, {}
        if not self.path.is_file():
            print(f"resume=true but no checkpoint at {self.path}: starting from step 0", flush=True)
            return 0, {}
        ckpt = torch.load(self.path, weights_only=False)
        data_generator.set_state(ckpt.pop("data_generator"))
        torch.set_rng_state(ckpt.pop("torch_rng"))
        step = ckpt.pop("step")
        print(f"resumed from {self.path} at step {step}", flush=True)
        return step, ckpt
