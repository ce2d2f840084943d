"""Run one policy over an evaluation set and summarise it (shared by evaluate and compare)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch

from denoiser import FrozenDenoiser
from planner import StepRecord, sample
from tasks.eval_data import EvalData

from .metrics import bucket_accuracy, mean_interval, wilson_interval


def check_for_task(model, task) -> None:
    """Refuse a denoiser (or a FrozenDenoiser) trained for another vocabulary, mask id or length:
    its mask id would make the task's blanks givens and some givens blanks."""
    if hasattr(task, "check_model"):     # a character task checks the characters themselves
        inner = model.model if isinstance(model, FrozenDenoiser) else model
        task.check_model("the denoiser", getattr(inner, "vocabulary", None))
    for name, have, want in (("vocab_size", model.vocab_size, task.vocab_size),
                             ("mask_id", model.mask_id, task.mask_id)):
        if have != want:
            raise ValueError(f"the denoiser has {name}={have}, but task {task.name!r} needs {want}: "
                             f"it was trained for another task")
    if model.max_length < task.length:
        raise ValueError(f"the denoiser's max_length {model.max_length} is shorter than task "
                         f"{task.name!r}'s sequences of {task.length}")


def frozen_for_task(model, task, device: str = "cpu") -> FrozenDenoiser:
    """Freeze `model`, refusing one trained for another vocabulary, mask id or length."""
    check_for_task(model, task)
    return FrozenDenoiser(model, device=device)


@dataclass
class PolicyRun:
    samples: torch.Tensor          # [n, length]
    correct: torch.Tensor | None   # [n] bool, for tasks with a right answer (`task.correct`)
    nfe: torch.Tensor              # [n] long
    seconds: float
    quality: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [n], `task.quality_metrics`


def run_policy(task, denoiser, policy, data: EvalData, *, batch_size: int = 256,
               temperature: float = 0.0, seed: int = 0, progress: bool = False,
               on_step: Callable[[int, StepRecord], None] | None = None) -> PolicyRun:
    """Sample every prompt of `data` in batches, with one generator seeded by `seed`.

    on_step: called after every step with the batch's first index into `data` and the
    StepRecord (whose `ctx.rows` index the batch), e.g. to trace where errors start."""
    check_for_task(denoiser, task)
    generator = torch.Generator().manual_seed(seed)
    samples, nfe = [], []
    t0 = time.perf_counter()
    n = len(data)
    for start in range(0, n, batch_size):
        prompts = data.prompts[start:start + batch_size]
        callbacks = () if on_step is None else (partial(on_step, start),)
        result = sample(denoiser, policy, prompts, generator=generator, temperature=temperature,
                        callbacks=callbacks)
        samples.append(result.tokens.cpu())
        nfe.append(result.nfe.cpu())
        if progress:
            done = min(start + batch_size, n)
            rate = done / (time.perf_counter() - t0)
            print(f"  {policy!r}: {done}/{n} sequences, {rate:.1f}/s", flush=True)
    seconds = time.perf_counter() - t0
    samples_t, nfe_t = torch.cat(samples), torch.cat(nfe)
    correct = task.correct(samples_t, data.prompts, data.references) if hasattr(task, "correct") else None
    quality = (task.quality_metrics(samples_t, data.prompts, data.references)
               if hasattr(task, "quality_metrics") else {})
    if correct is None and not quality:
        raise TypeError(f"task {task.name!r} defines neither correct() nor quality_metrics(): "
                        f"there is nothing to measure its samples by")
    return PolicyRun(samples_t, correct, nfe_t, seconds, quality)


def summarise_quality(task, values: dict[str, torch.Tensor]) -> dict:
    """Each of the task's quality metrics pooled over sequences, with its 95% interval and
    direction, under the name `summarise` gives it (`results["quality"]`)."""
    out = {}
    for metric in task.quality:
        mean, lo, hi = mean_interval(values[metric.name], geometric=metric.mean == "geometric")
        out[metric.name] = {"mean": mean, "ci95": [lo, hi], "label": metric.label,
                            "lower_is_better": metric.lower_is_better}
    return out


def summarise(run: PolicyRun, data: EvalData, task=None) -> dict:
    """Accuracy (Wilson interval, per difficulty bucket) for tasks with a right answer; for
    tasks with quality metrics (`task` needed) `quality` and the `primary` metric's name."""
    n = run.nfe.numel()
    out = {}
    if run.correct is not None:
        k = int(run.correct.sum())
        lo, hi = wilson_interval(k, n)
        out.update({"accuracy": k / n, "accuracy_ci95": [lo, hi]})
    out.update({
        "n": n,
        "nfe_mean": float(run.nfe.float().mean()),
        "nfe_max": int(run.nfe.max()),
        "seconds": run.seconds,
        "seconds_per_sequence": run.seconds / n,
    })
    if run.correct is not None:
        out["buckets"] = {col: bucket_accuracy(run.correct, labels)
                          for col, labels in data.buckets.items()}
    if run.quality:
        if task is None:
            raise ValueError("summarise needs the task to pool its quality metrics")
        out["quality"] = summarise_quality(task, run.quality)
        out["primary"] = task.primary_metric
    return out


def headline(r: dict) -> str:
    """One line for a summary: accuracy, or the quality metrics."""
    if "accuracy" in r:
        return f"accuracy {r['accuracy']:.3f}"
    return "  ".join(f"{q['label']} {q['mean']:.3f}" for q in r["quality"].values())
