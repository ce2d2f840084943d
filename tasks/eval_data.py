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
