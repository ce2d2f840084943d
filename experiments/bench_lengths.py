"""How sampling time grows with sequence length for text-sized models (a section of
`python -m experiments.bench`).

For each length, a randomly initialised `MDMTransformer` with the shipped architecture
(`architecture`, by default `configs/denoiser/mdm_sudoku.yaml`: d=128, 4 layers, 8 heads),
plain sequence structure and a text-like vocabulary completes `batch` fully masked sequences
with each policy; prints mean NFE, ms per sequence, ms per denoiser call (per batched call,
denoiser alone) and the policy's own ms per call. Random weights give near-uniform
predictions, so confidence-based rules reveal one position per call here (NFE = length), as a
one-per-step order does: what grows is the cost of a call and the number of calls, not the
quality. `learned` is an untrained planner network (`planner`, the shipped planner's size):
its output starts at p_i = 1/2 everywhere, so thresholded at 1/2 it takes the single top
position per call too; its timing is the planner network's cost at that length.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from denoiser import FrozenDenoiser, MDMTransformer
from planner import load_policy
from vi.policy import LearnedPlanner
from vi.spec import PlannerSpec

from .bench_policies import ms_per_iteration, time_sampling

MASK_ID = 0


@dataclass
class LengthBench:
    """lengths: sequence lengths; batch: sequences per length and policy; vocab_size: the
    models' vocabulary; architecture: a partial `MDMConfig` (everything but vocab_size,
    mask_id, max_length, structure); planner: the `PlannerSpec` of `learned`; policies: policy
    config names, or `learned`."""

    architecture: Callable[..., object]
    planner: PlannerSpec = field(default_factory=PlannerSpec)
    lengths: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    batch: int = 1
    vocab_size: int = 1024
    policies: list[str] = field(default_factory=lambda: ["topk_margin", "threshold", "learned"])
    beta: float = 0.3

    def __post_init__(self):
        if not self.lengths or min(self.lengths) < 2:
            raise ValueError(f"lengths.lengths must be lengths >= 2, got {self.lengths}")
        if self.batch < 1:
            raise ValueError(f"lengths.batch must be >= 1, got {self.batch}")
        if self.vocab_size < 3:
            raise ValueError(f"lengths.vocab_size must be >= 3 (mask + two tokens), got "
                             f"{self.vocab_size}")

    def policy(self, name: str, frozen: FrozenDenoiser):
        if name != "learned":
            return load_policy(name)
        prior, _, _ = self.planner.build(frozen, "sequence")
        return LearnedPlanner(prior.eval(), beta=self.beta)

    def run(self, seed: int = 0) -> list[dict]:
        print(f"random {self.vocab_size}-token MDMs, batch {self.batch}, fully masked")
        header = (f"{'length':>7}  {'policy':<14}{'MDM params':>11}{'mean NFE':>10}{'ms/seq':>11}"
                  f"{'denoiser ms/call':>18}{'policy ms/call':>16}")
        print(header + "\n" + "-" * len(header))
        rows = []
        for length in self.lengths:
            torch.manual_seed(seed)
            model = MDMTransformer(self.architecture(vocab_size=self.vocab_size, mask_id=MASK_ID,
                                                     max_length=length, structure="sequence"))
            frozen = FrozenDenoiser(model)
            prompts = torch.full((self.batch, length), MASK_ID, dtype=torch.long)
            for name in self.policies:
                timing = time_sampling(self.policy(name, frozen), model, prompts, seed=seed)
                den, pol = ms_per_iteration([timing])
                row = {"length": length, "policy": name, "parameters": model.num_parameters(),
                       "nfe": timing.nfe, "ms_per_sequence": 1000 * timing.wall_s / self.batch,
                       "denoiser_ms_per_call": den, "policy_ms_per_call": pol}
                rows.append(row)
                print(f"{length:>7}  {name:<14}{row['parameters']:>11,}{timing.nfe:>10.1f}"
                      f"{row['ms_per_sequence']:>11.1f}{den:>18.2f}{pol:>16.2f}", flush=True)
        return rows
