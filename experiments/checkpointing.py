"""The resumable part of a training run: `<run dir>/checkpoints/last.pt`, written atomically.

Besides the caller's states (model, optimizer, ...) it keeps the data generator, the global
torch RNG and the step, so a run killed at any moment and resumed with `resume=true` goes on
exactly as an unbroken run would (the tests check weights and curves are identical). It also
keeps the run's settings and every command that ran it: resuming with settings that change the
run (another `train.lr`, `train.batch_size`, task, ...) is refused, naming each difference.
"""
from __future__ import annotations

from pathlib import Path

import torch

from denoiser.atomic import atomic_torch_save


def _flat(d, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def setting_changes(saved: dict, now: dict) -> list[str]:
    a, b = _flat(saved), _flat(now)
    missing = object()
    return [f"{k}: {a.get(k, '(unset)')!r} in the checkpoint, {b.get(k, '(unset)')!r} now"
            for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


class RunCheckpoint:
    """settings: what defines the run (the resolved config less what may change on resuming);
    command: this invocation, added to the run's `commands`."""

    def __init__(self, run_dir: str | Path, settings: dict | None = None,
                 command: str | None = None):
        self.path = Path(run_dir) / "checkpoints" / "last.pt"
        self.settings = settings
        self.command = command
        self.commands = [command] if command else []    # every invocation of the run, in order

    def save(self, step: int, data_generator: torch.Generator, states: dict) -> None:
        atomic_torch_save({**states, "data_generator": data_generator.get_state(),
                           "torch_rng": torch.get_rng_state(), "step": step,
                           "settings": self.settings, "commands": self.commands}, self.path)

    def restore(self, resume: bool, data_generator: torch.Generator) -> tuple[int, dict]:
        """(step, the saved states) when resuming from a checkpoint; (0, {}) otherwise. Restores
        the data generator and the global torch RNG in place."""
        if not resume:
            return 0, {}
        if not self.path.is_file():
            print(f"resume=true but no checkpoint at {self.path}: starting from step 0", flush=True)
            return 0, {}
        ckpt = torch.load(self.path, weights_only=False)
        saved_settings = ckpt.pop("settings", None)
        if saved_settings is not None and self.settings is not None:
            changes = setting_changes(saved_settings, self.settings)
            if changes:
                raise ValueError(f"resume=true, but these settings differ from the run in "
                                 f"{self.path.parent.parent}: " + "; ".join(changes)
                                 + ". Resume with the run's settings, or start a new run in "
                                   "another hydra.run.dir")
        self.commands = (ckpt.pop("commands", None) or ["(not recorded)"]) + self.commands
        data_generator.set_state(ckpt.pop("data_generator"))
        torch.set_rng_state(ckpt.pop("torch_rng"))
        step = ckpt.pop("step")
        print(f"resumed from {self.path} at step {step}", flush=True)
        return step, ckpt
