"""Plain settings objects that the `train` and `eval` config groups instantiate."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DenoiserTrainSettings:
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    bf16: bool = True
    log_every: int = 20
    eval_every: int = 500
    ckpt_every: int = 100
    val_grids: int = 512
    threads: int | None = None

    def __post_init__(self):
        for name in ("steps", "batch_size", "log_every", "eval_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"train.lr must be > 0, got {self.lr}")


@dataclass
class EvalSettings:
    batch_size: int = 256
    temperature: float = 0.0
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self):
        if self.batch_size < 1:
            raise ValueError(f"eval.batch_size must be >= 1, got {self.batch_size}")
        if self.temperature < 0:
            raise ValueError(f"eval.temperature must be >= 0, got {self.temperature}")
