"""Training curves read back from the TensorBoard events of finished runs: a table and a plot.

    python -m experiments.curves 'runs={ALiBi BERT: runs/train_denoiser/text-hf-alibi}' \
        tag=val/loss [scale=1.4427] [ylabel="bits/char"]

`runs` maps a label to a run folder (its `tb/` subfolder is read, or the folder itself when it
holds the event files). Every run's `tag` is written to the run folder as `curves.csv` (label,
step, value), `curves.md` (one column per run, one row per step) and `curves.png`. `scale`
multiplies every value (1/ln 2 = 1.4427 turns nats into bits). Where a resumed run logged a
step twice, the later write is kept.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import hydra
import matplotlib
from omegaconf import DictConfig, OmegaConf

from denoiser.atomic import atomic_write_text

from .report import save_figure
from .run_folder import run_folder

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def event_folder(path: str | Path) -> Path:
    """The folder of a run's TensorBoard event files: `<run>/tb` or `<run>` itself."""
    path = Path(path)
    for folder in (path / "tb", path):
        if folder.is_dir() and any(folder.glob("events.out.tfevents.*")):
            return folder
    raise FileNotFoundError(f"no TensorBoard event files in {path} or {path / 'tb'}: expected "
                            f"a run folder written by a training or evaluation entry point")


def read_curve(path: str | Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of `tag` in a run's events, by step; a step logged twice keeps the later."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    folder = event_folder(path)
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags().get("scalars", [])
    if tag not in tags:
        raise KeyError(f"{folder} has no scalar {tag!r}; it has {sorted(tags)}")
    by_step = {}
    for event in sorted(acc.Scalars(tag), key=lambda e: e.wall_time):
        by_step[int(event.step)] = float(event.value)
    return sorted(by_step.items())


def write(curves: dict[str, list[tuple[int, float]]], out: Path, tag: str, ylabel: str,
          title: str) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["label", "step", "value"])
    for label, points in curves.items():
        writer.writerows([label, s, f"{v:.6g}"] for s, v in points)
    atomic_write_text(buf.getvalue(), out / "curves.csv")
    steps = sorted({s for points in curves.values() for s, _ in points})
    values = {label: dict(points) for label, points in curves.items()}
    md = ["| step | " + " | ".join(curves) + " |", "|---:|" + "---:|" * len(curves)]
    md += [f"| {s} | " + " | ".join(f"{values[label][s]:.3f}" if s in values[label] else ""
                                    for label in curves) + " |" for s in steps]
    atomic_write_text("\n".join(md) + "\n", out / "curves.md")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for label, points in curves.items():
        ax.plot([s for s, _ in points], [v for _, v in points], marker="o", ms=3, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel or tag)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, out / "curves.png")


@hydra.main(version_base=None, config_path="configs", config_name="curves")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("curves.csv",)) as run_dir:
        runs = OmegaConf.to_container(cfg.runs, resolve=True)
        if not isinstance(runs, dict) or not runs:
            raise ValueError(f"runs must map a label to a run folder, e.g. "
                             f"'runs={{BERT: runs/train_denoiser/text-hf-alibi}}', got {runs!r}")
        if not isinstance(cfg.scale, (int, float)) or isinstance(cfg.scale, bool) or cfg.scale <= 0:
            raise ValueError(f"scale must be a positive number, got {cfg.scale!r}")
        curves = {str(label): [(s, v * cfg.scale) for s, v in read_curve(path, cfg.tag)]
                  for label, path in runs.items()}
        write(curves, run_dir, cfg.tag, cfg.ylabel, cfg.title or cfg.tag)
        for label, points in curves.items():
            best = min(points, key=lambda p: p[1])
            print(f"{label}: {len(points)} points, last {points[-1][1]:.4f} at step "
                  f"{points[-1][0]}, lowest {best[1]:.4f} at step {best[0]}")
        print(f"wrote {run_dir / 'curves.csv'}, curves.md, curves.png")


if __name__ == "__main__":
    main()
