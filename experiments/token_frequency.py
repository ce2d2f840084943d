"""Background token frequencies of a task's training data, for the PC-sampler.

    python -m experiments.token_frequency task=sudoku [n_sequences=N] [out=PATH]

Draws `n_sequences` clean training sequences with `task.train_batch(n, generator)`, counts the
tokens (the mask id excluded, additive smoothing so that log f is finite) and saves the
frequencies as JSON, atomically, to `out` (default `weights/background/<task name>.json`,
relative paths against the repo root).
"""
from __future__ import annotations

from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from planner.background import save_frequency, token_frequency
from tasks.paths import REPO_ROOT

from .run_folder import run_folder


def compute(task, n_sequences: int, seed: int, smoothing: float) -> tuple[torch.Tensor, dict]:
    """`[vocab]` frequencies of `n_sequences` training sequences of `task`, and their metadata."""
    if isinstance(n_sequences, bool) or not isinstance(n_sequences, int) or n_sequences < 1:
        raise ValueError(f"n_sequences must be a positive integer, got {n_sequences!r}")
    tokens = task.train_batch(n_sequences, torch.Generator().manual_seed(seed))
    freq = token_frequency(tokens, task.vocab_size, exclude=(task.mask_id,), smoothing=smoothing)
    meta = {"task": task.name, "n_sequences": n_sequences, "seed": seed, "smoothing": smoothing,
            "excluded": [task.mask_id], "mask_id": task.mask_id, "tokens_counted": tokens.numel()}
    return freq, meta


def output_path(out: str | None, task_name: str) -> Path:
    path = Path(out) if out else Path("weights") / "background" / f"{task_name}.json"
    return path if path.is_absolute() else REPO_ROOT / path


@hydra.main(version_base=None, config_path="configs", config_name="token_frequency")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg):
        task = instantiate(cfg.task)
        freq, meta = compute(task, cfg.n_sequences, cfg.seed, cfg.smoothing)
        path = output_path(cfg.out, task.name)
        save_frequency(path, freq, meta)
        shown = ", ".join(f"{v}: {f:.4f}" for v, f in enumerate(freq.tolist()))
        print(f"wrote {path} ({meta['tokens_counted']} tokens of {cfg.n_sequences} sequences)\n"
              f"{shown}")


if __name__ == "__main__":
    main()
