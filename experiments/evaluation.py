"""Run one policy over an evaluation set and summarise it (shared by evaluate and compare)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from denoiser import FrozenDenoiser
from planner import sample
from tasks.eval_data import EvalData

from .metrics import bucket_accuracy, wilson_interval


def frozen_for_task(model, task, device: str = "cpu") -> FrozenDenoiser:
    """Freeze `model`, refusing one trained for another vocabulary, mask id or length."""
    for name, have, want in (("vocab_size", model.vocab_size, task.vocab_size),
                             ("mask_id", model.mask_id, task.mask_id)):
        if have != want:
            raise ValueError(f"the denoiser has {name}={have}, but task {task.name!r} needs {want}: "
                             f"it was trained for another task")
    if model.max_length < task.length:
        raise ValueError(f"the denoiser's max_length {model.max_length} is shorter than task "
                         f"{task.name!r}'s sequences of {task.length}")
    return FrozenDenoiser(model, device=device)


@dataclass
class PolicyRun:
    samples: torch.Tensor   # [n, length]
    correct: torch.Tensor   # [n] bool
    nfe: torch.Tensor       # [n] long
    seconds: float


def run_policy(task, denoiser, policy, data: EvalData, *, batch_size: int = 256,
               temperature: float = 0.0, seed: int = 0, progress: bool = False) -> PolicyRun:
    """Sample every prompt of `data` in batches, with one generator seeded by `seed`."""
    generator = torch.Generator().manual_seed(seed)
    samples, nfe = [], []
    t0 = time.perf_counter()
    n = len(data)
    for start in range(0, n, batch_size):
        prompts = data.prompts[start:start + batch_size]
        result = sample(denoiser, policy, prompts, generator=generator, temperature=temperature)
        samples.append(result.tokens.cpu())
        nfe.append(result.nfe.cpu())
        if progress:
            done = min(start + batch_size, n)
            rate = done / (time.perf_counter() - t0)
            print(f"  {policy!r}: {done}/{n} sequences, {rate:.1f}/s", flush=True)
    seconds = time.perf_counter() - t0
    samples_t, nfe_t = torch.cat(samples), torch.cat(nfe)
    correct = task.correct(samples_t, data.prompts, data.references)
    return PolicyRun(samples_t, correct, nfe_t, seconds)


def summarise(run: PolicyRun, data: EvalData) -> dict:
    n = run.correct.numel()
    k = int(run.correct.sum())
    lo, hi = wilson_interval(k, n)
    return {
        "accuracy": k / n,
        "accuracy_ci95": [lo, hi],
        "n": n,
        "nfe_mean": float(run.nfe.float().mean()),
        "nfe_max": int(run.nfe.max()),
        "seconds": run.seconds,
        "seconds_per_sequence": run.seconds / n,
        "buckets": {col: bucket_accuracy(run.correct, labels) for col, labels in data.buckets.items()},
    }
