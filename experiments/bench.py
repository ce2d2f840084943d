"""The benchmarks in one run (numbers to read, not tests):

    python -m experiments.bench [threads=1] [policies.batch=N] [lengths.lengths=[64,128]]

1. policies: sequences per second of every policy at its default knobs on the task's
   evaluation data, and each policy's own time per step against the denoiser's
   (`bench_policies.py`);
2. estimators: the planner-training estimators' gradient variance and VI training steps per
   second (`bench_estimators.py`);
3. objectives: the peers' objectives beside VI (GRPO, oracle imitation, LO-ARM; issue 17):
   gradient variance at the same state and training throughput (`bench_objectives.py`;
   not in the default `sections`: `sections=[objectives]`);
4. lengths: how sampling time grows with sequence length for randomly initialised
   text-sized MDMs, per sequence and per denoiser call (`bench_lengths.py`).

`sections=[policies]` runs a subset. Timings are wall-clock on whatever else the machine runs.
"""
from __future__ import annotations

import time

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from .evaluation import frozen_for_task
from .run_folder import run_folder

SECTIONS = ("policies", "estimators", "objectives", "lengths")


def run(cfg: DictConfig) -> dict[str, list[dict]]:
    unknown = [s for s in cfg.sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown bench sections {unknown}; expected some of {list(SECTIONS)}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    print(f"threads {torch.get_num_threads()}, seed {cfg.seed}", flush=True)
    needs_task = {"policies", "estimators", "objectives"} & set(cfg.sections)
    task = instantiate(cfg.task) if needs_task else None
    model = instantiate(cfg.denoiser) if needs_task else None
    results = {}
    for name in SECTIONS:
        if name not in cfg.sections:
            continue
        print(f"\n== {name} ==", flush=True)
        start = time.perf_counter()
        section = instantiate(cfg[name])
        if name == "policies":
            results[name] = section.run(task, model, cfg.seed)
        elif name in ("estimators", "objectives"):
            results[name] = section.run(task, frozen_for_task(model, task), cfg.seed)
        else:
            results[name] = section.run(cfg.seed)
        print(f"({name}: {time.perf_counter() - start:.1f} s)", flush=True)
    return results


@hydra.main(version_base=None, config_path="configs", config_name="bench")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg):
        run(cfg)


if __name__ == "__main__":
    main()
