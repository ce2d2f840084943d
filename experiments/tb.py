"""TensorBoard logging with grouped tags (`train/`, `val/`, `eval/`), resumable."""
from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter


class TensorBoardLogger:
    """A SummaryWriter under `run_dir/tb`. `purge_step` drops events at or after that step
    left by a killed run, so a resumed run continues the same curve."""

    def __init__(self, run_dir: str | Path, subdir: str = "tb", purge_step: int | None = None):
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / subdir), purge_step=purge_step)

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, float(value), step)

    def text(self, tag: str, text: str, step: int = 0) -> None:
        self.writer.add_text(tag, text, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
