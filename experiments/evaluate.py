"""Evaluate one policy on one dataset.

    python -m experiments.evaluate policy=topk_margin data.path=FILE data.limit=N hydra.run.dir=DIR

Writes `DIR/results.json` (accuracy, its 95% Wilson interval, mean and max NFE, n, seconds,
accuracy per difficulty bucket) and TensorBoard scalars under `eval/`.
"""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from denoiser.checkpoint import atomic_write_text

from .eval_source import held_out_note, load_eval_data
from .evaluation import frozen_for_task, run_policy, summarise
from .run_folder import run_folder


def evaluate(cfg: DictConfig, run_dir: Path) -> dict:
    settings = instantiate(cfg.eval)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    task = instantiate(cfg.task)
    denoiser = frozen_for_task(instantiate(cfg.denoiser), task, settings.device)
    policy = instantiate(cfg.policy, _convert_="all")
    data, test_only = load_eval_data(cfg, task)
    print(f"evaluating {policy!r} on {len(data)} sequences of {data.source}", flush=True)
    run = run_policy(task, denoiser, policy, data, batch_size=settings.batch_size,
                     temperature=settings.temperature, seed=cfg.seed, progress=True)
    results = {"policy": OmegaConf.to_container(cfg.policy), "data": data.source,
               **held_out_note(test_only), **summarise(run, data, task)}
    atomic_write_text(json.dumps(results, indent=2) + "\n", run_dir / "results.json")

    logger = instantiate(cfg.logger)(run_dir=run_dir)
    scalars = {"eval/nfe_mean": results["nfe_mean"], "eval/nfe_max": results["nfe_max"],
               "eval/seconds_per_sequence": results["seconds_per_sequence"]}
    if "accuracy" in results:
        scalars["eval/accuracy"] = results["accuracy"]
    scalars.update({f"eval/{q}": v["mean"] for q, v in results.get("quality", {}).items()})
    logger.scalars(scalars, 0)
    logger.close()

    for i in range(min(cfg.show, len(data))):
        if run.correct is None:
            show_text(task, data.prompts[i], run.samples[i], int(run.nfe[i]))
        else:
            show_one(task, data.prompts[i], run.samples[i], bool(run.correct[i]), int(run.nfe[i]))
    if "accuracy" in results:
        lo, hi = results["accuracy_ci95"]
        measured = f"accuracy {results['accuracy']:.4f} (95% CI {lo:.4f}-{hi:.4f})"
    else:
        measured = ", ".join(f"{q['label']} {q['mean']:.3f} (95% CI {q['ci95'][0]:.3f}-"
                             f"{q['ci95'][1]:.3f})" for q in results["quality"].values())
    print(f"{measured} over n={results['n']}, "
          f"NFE mean {results['nfe_mean']:.2f} max {results['nfe_max']}, "
          f"{results['seconds']:.1f} s ({1000 * results['seconds_per_sequence']:.1f} ms/sequence)")
    for column, table in results.get("buckets", {}).items():
        cells = ", ".join(f"{k}: {v['accuracy']:.3f} (n={v['n']})" for k, v in table.items())
        print(f"  by {column}: {cells}")
    print(f"results: {run_dir / 'results.json'}")
    return results


def show_text(task, prompt: torch.Tensor, completion: torch.Tensor, nfe: int) -> None:
    """A text sample: the prompt (masks shown as `_`) and the completion, one after the other."""
    print(f"\n--- prompt ({int((prompt != task.mask_id).sum())} characters given)\n"
          f"{task.render(prompt)}\n--- completion (NFE {nfe})\n{task.render(completion)}\n")


def show_one(task, prompt: torch.Tensor, completion: torch.Tensor, ok: bool, nfe: int) -> None:
    render = getattr(task, "render", None)
    if render is None:
        return
    print(f"\npuzzle ({int((prompt != task.mask_id).sum())} givens)        completion "
          f"({'solved' if ok else 'NOT solved'}, NFE {nfe})")
    for left, right in zip(render(prompt).splitlines(), render(completion).splitlines()):
        print(f"{left:<28}{right}")
    print()


@hydra.main(version_base=None, config_path="configs", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("results.json",)) as run_dir:
        evaluate(cfg, run_dir)


if __name__ == "__main__":
    main()
