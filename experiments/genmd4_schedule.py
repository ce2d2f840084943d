"""GenMD4's learned masking schedule, one power per token value: a table and a plot.

    python -m experiments.genmd4_schedule path=weights/text-mdm-genmd4 task=text [out=DIR]

Reads a model trained with `objective=genmd4 denoiser.schedule=learned`, and writes to the run
folder `schedule.csv` (token id, label, w, frequency in the task's training data, and the
time t at which alpha_t(x) = 1/2, i.e. (1/2)^(1/w)), `schedule.md` and `schedule.png` (w per
token value, most frequent values first). A value with a larger w stays unmasked longer in
the forward process, so the GenMD4 sampler writes it earlier.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import hydra
import matplotlib
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from denoiser.atomic import atomic_write_text
from denoiser.genmd4 import masking_power
from denoiser.loading import load_denoiser

from .report import save_figure
from .run_folder import run_folder

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label_of(task, token: int) -> str:
    chars = getattr(task, "vocabulary", None)
    if chars and token < len(chars):
        return {"\n": "\\n", " ": "space"}.get(chars[token], chars[token])
    return str(token)


def schedule_rows(model, task, n_sequences: int, seed: int) -> list[dict]:
    power = masking_power(model)
    if power is None:
        raise ValueError(f"the model has no learned masking schedule (config schedule "
                         f"{getattr(getattr(model, 'config', None), 'schedule', None)!r}): "
                         f"genmd4_schedule reads a model trained with objective=genmd4")
    power = power.detach()
    tokens = task.train_batch(n_sequences, torch.Generator().manual_seed(seed))
    counts = torch.bincount(tokens.reshape(-1), minlength=task.vocab_size).double()
    counts[task.mask_id] = 0
    freq = counts / counts.sum()
    rows = [{"token": v, "label": label_of(task, v), "w": float(power[v]),
             "frequency": float(freq[v]), "t_half": 0.5 ** (1 / float(power[v]))}
            for v in range(task.vocab_size) if v != task.mask_id]
    return sorted(rows, key=lambda r: -r["frequency"])


def write(rows: list[dict], out: Path, title: str) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(buf.getvalue(), out / "schedule.csv")
    md = ["| token | label | w | frequency | t at alpha 1/2 |", "|---:|---|---:|---:|---:|"]
    md += [f"| {r['token']} | `{r['label']}` | {r['w']:.3f} | {r['frequency']:.4f} | "
           f"{r['t_half']:.3f} |" for r in rows]
    atomic_write_text("\n".join(md) + "\n", out / "schedule.md")
    fig, ax = plt.subplots(figsize=(max(6, 0.22 * len(rows)), 3.6))
    w = [r["w"] for r in rows]
    # bars from w = 1 (MD4's schedule), so small learned departures show
    ax.bar(range(len(rows)), [v - 1 for v in w], bottom=1.0,
           color=["tab:red" if v > 1 else "tab:blue" for v in w])
    ax.axhline(1.0, color="grey", lw=1, ls="--", label="w = 1 (MD4's linear schedule)")
    spread = max(0.02, max(abs(v - 1) for v in w))
    ax.set_ylim(1 - 1.15 * spread, 1 + 1.15 * spread)
    ax.set_xticks(range(len(rows)), [r["label"] for r in rows], fontsize=7,
                  rotation=90 if len(rows) > 12 else 0)
    ax.set_xlabel("token value (most frequent first)")
    ax.set_ylabel("learned power w  (alpha_t = 1 - t^w)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    save_figure(fig, out / "schedule.png")


@hydra.main(version_base=None, config_path="configs", config_name="genmd4_schedule")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("schedule.csv",)) as run_dir:
        task = instantiate(cfg.task)
        model = load_denoiser(cfg.path)
        rows = schedule_rows(model, task, cfg.n_sequences, cfg.seed)
        write(rows, run_dir, cfg.title or f"GenMD4 schedule of {Path(cfg.path).name}")
        print("\n".join(f"{r['label']:>6}  w {r['w']:.3f}  freq {r['frequency']:.4f}" for r in rows))
        print(f"wrote {run_dir / 'schedule.csv'}, schedule.md, schedule.png")


if __name__ == "__main__":
    main()
