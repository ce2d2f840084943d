"""An evaluation set as every task hands it to the evaluation harness."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class EvalData:
    prompts: torch.Tensor                 # [n, length] with mask_id at positions to generate
    references: torch.Tensor | None       # [n, length] the reference completion, if any
    buckets: dict[str, list[str]] = field(default_factory=dict)  # difficulty column -> n labels
    source: str = ""

    def __len__(self) -> int:
        return self.prompts.shape[0]


@dataclass(frozen=True)
class QualityMetric:
    """A per-sequence quality score a task reports instead of (or beside) accuracy.

    mean: how the per-sequence values are pooled, "arithmetic" or "geometric" (perplexities:
    the geometric mean of per-sample perplexities over equal lengths is exp of the mean NLL).
    """
    name: str
    label: str
    lower_is_better: bool
    mean: str = "arithmetic"

    def __post_init__(self):
        if self.mean not in ("arithmetic", "geometric"):
            raise ValueError(f"mean must be 'arithmetic' or 'geometric', got {self.mean!r}")
