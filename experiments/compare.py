"""Compare many policies and knobs on one dataset: accuracy (or, for text, the task's quality
metrics: gen PPL and entropy) against NFE.

    python -m experiments.compare [experiment=sudoku_compare] [data.limit=N] [hydra.run.dir=DIR]

Writes to the run folder: `comparison.csv`, `comparison.md` (the table and per-difficulty
tables), `pareto.png`, `results.json`, and TensorBoard scalars `eval/<policy>/accuracy` and
`eval/<policy>/nfe_mean` (or `eval/<policy>/<metric>` per quality metric) with the rounded mean
NFE as the step, so TensorBoard draws the front. With `paired.reference=<policy>` (tasks with an
accuracy) it adds `paired.json` and a table of that policy's paired accuracy differences from
every row of another policy within `paired.nfe_tolerance` calls (`experiments/paired.py`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from denoiser.checkpoint import atomic_write_text
from planner.registry import load_policy

from .eval_source import data_path, guard_test_only, held_out_note, load_eval_data
from .evaluation import frozen_for_task, headline, run_policy, summarise, summarise_quality
from .experiment_file import with_experiment_file
from .paired import paired_differences, paired_table, unpaired_rows
from .report import difficulty_table, markdown_table, pareto_plot, write_csv
from .run_folder import run_folder


def sweep_points(sweep) -> list[tuple[str, str, dict]]:
    """(policy name, knob label, overrides) for every entry of the sweep config. A label names
    the swept knob only (`steps=16`); where two points of one policy would read the same, the
    fixed settings that tell them apart are added (`steps=16 (schedule=cap, eta=0.008)`), and
    two points with the same settings are refused."""
    points = []
    for entry in sweep:
        fixed = dict(entry.get("fixed") or {})
        knob, values = entry.get("knob"), entry.get("values")
        if knob is None:
            points.append((entry["policy"], "default", fixed))
            continue
        if not values:
            raise ValueError(f"sweep entry for {entry['policy']!r} names knob {knob!r} but no values")
        for v in values:
            points.append((entry["policy"], f"{knob}={v}", {**fixed, knob: v}))
    return _distinct_labels(points)


def _distinct_labels(points: list[tuple[str, str, dict]]) -> list[tuple[str, str, dict]]:
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (name, label, _) in enumerate(points):
        groups.setdefault((name, label), []).append(i)
    out = list(points)
    for (name, label), members in groups.items():
        if len(members) == 1:
            continue
        settings = [points[i][2] for i in members]
        keys = sorted({k for s in settings for k in s})
        differ = [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]
        if not differ:
            raise ValueError(f"the sweep runs {name!r} with {label} twice with the same settings "
                             f"{settings[0]}: drop one entry or set a `fixed` value that differs")
        for i, s in zip(members, settings):
            extra = ", ".join(f"{k}={s.get(k)}" for k in differ)
            out[i] = (name, f"{label} ({extra})", s)
    return out


def load_sweep(cfg: DictConfig) -> tuple:
    """What a sweep over policies runs on, from its config (`eval`, `task`, `denoiser`, `data`,
    `sweep`): (eval settings, task, frozen denoiser, evaluation data, `sweep_points`). Sets the
    thread count when the settings give one."""
    settings = instantiate(cfg.eval)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    task = instantiate(cfg.task)
    denoiser = frozen_for_task(instantiate(cfg.denoiser), task, settings.device)
    data, _ = load_eval_data(cfg, task)
    points = sweep_points(OmegaConf.to_container(cfg.sweep, resolve=True))
    return settings, task, denoiser, data, points


def compare(cfg: DictConfig, run_dir: Path) -> list[dict]:
    settings, task, denoiser, data, points = load_sweep(cfg)
    note = held_out_note(guard_test_only(data_path(cfg, task), cfg))
    print(f"comparing {len(points)} policy settings on {len(data)} sequences of {data.source}",
          flush=True)
    reference = cfg.paired.reference
    if reference is not None and not hasattr(task, "correct"):
        raise ValueError(f"paired.reference={reference!r}: paired differences compare "
                         f"accuracies, and task {task.name!r} has none")
    if reference is not None and reference not in {name for name, _, _ in points}:
        print(f"paired.reference={reference!r} is not in this sweep: no paired differences",
              flush=True)
        reference = None
    logger = instantiate(cfg.logger)(run_dir=run_dir)
    results, correct = [], []
    for i, (name, label, overrides) in enumerate(points, 1):
        policy = load_policy(name, **overrides)
        run = run_policy(task, denoiser, policy, data, batch_size=settings.batch_size,
                         temperature=settings.temperature, seed=cfg.seed)
        r = {"policy": name, "knob": label, **note, **summarise(run, data, task)}
        results.append(r)
        correct.append(run.correct)
        step = int(round(r["nfe_mean"]))
        scalars = {f"eval/{name}/nfe_mean": r["nfe_mean"]}
        if "accuracy" in r:
            scalars[f"eval/{name}/accuracy"] = r["accuracy"]
        scalars.update({f"eval/{name}/{q}": v["mean"] for q, v in r.get("quality", {}).items()})
        logger.scalars(scalars, step)
        print(f"[{i}/{len(points)}] {name:<20} {label:<14} {headline(r)}  "
              f"NFE {r['nfe_mean']:6.1f} (max {r['nfe_max']})  {r['seconds']:.1f} s", flush=True)
    logger.close()

    write_csv(results, run_dir / "comparison.csv")
    table = markdown_table(results)
    by_difficulty = "".join(f"\n### Accuracy by {col}\n\n{difficulty_table(results, col)}"
                            for col in data.buckets)
    paired = ""
    if reference is not None:
        tolerance = cfg.paired.nfe_tolerance
        pairs = paired_differences(results, correct, reference, tolerance)
        alone = unpaired_rows(results, reference, tolerance)
        paired = (f"\n### Paired differences at matched NFE ({reference} against every row "
                  f"within {tolerance} calls, on the same sequences)\n\n"
                  f"{paired_table(pairs, alone, tolerance)}")
        atomic_write_text(json.dumps(pairs, indent=2) + "\n", run_dir / "paired.json")
    atomic_write_text(f"# {cfg.title}\n\n{len(data)} sequences of `{Path(data.source).name}`, "
                      f"seed {cfg.seed}.\n\n{held_out_line(note)}{reference_line(task, data)}"
                      f"{table}{paired}"
                      f"{by_difficulty}", run_dir / "comparison.md")
    atomic_write_text(json.dumps(results, indent=2) + "\n", run_dir / "results.json")
    pareto_plot(results, run_dir / "pareto.png", f"{cfg.title} (n={len(data)})")
    print("\n" + table + paired)
    for name in ("comparison.csv", "comparison.md", "pareto.png"):
        print(f"{name}: {run_dir / name}")
    return results


def held_out_line(note: dict) -> str:
    """A line above the table when the data is a test-only file the user allowed."""
    return ("Test-only data, used because the command said `allow_test=true`.\n\n"
            if note else "")


def reference_line(task, data) -> str:
    """For quality tasks, the same metrics of the held-out references themselves (what real
    text scores), as a line above the table; empty for tasks with an accuracy."""
    if not hasattr(task, "quality_metrics") or data.references is None:
        return ""
    ref = summarise_quality(task, task.quality_metrics(data.references, data.prompts))
    shown = ", ".join(f"{q['label']} {q['mean']:.2f}" for q in ref.values())
    return f"The held-out references themselves: {shown}.\n\n"


@hydra.main(version_base=None, config_path="configs", config_name="compare")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("results.json",)) as run_dir:
        compare(cfg, run_dir)


if __name__ == "__main__":
    sys.argv[1:] = with_experiment_file(sys.argv[1:])
    main()
