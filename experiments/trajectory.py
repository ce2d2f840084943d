"""A picture of one sampling trajectory: where a sampler went wrong and how it recovered.

    python -m experiments.trajectory policy=backtrack data.index=7 [hydra.run.dir=DIR]

Samples one sequence of the evaluation file with the policy, recording every step, and writes
`DIR/trajectory.png`: each position a cell (Sudoku: the 9 x 9 grid), coloured by the step at
which its final token was written, givens grey, the token in black (red where it differs from
the reference), and in the corner how often the position was remasked or edited; and
`DIR/trajectory.json` with the per-step record (what was unmasked, remasked, edited).
"""
from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from denoiser.checkpoint import atomic_write_text
from planner import sample

from .evaluation import frozen_for_task
from .report import plt, save_figure
from .run_folder import run_folder


def record_steps(records: list) -> "callable":
    def on_step(rec) -> None:
        sel = rec.selection
        as_list = lambda t: [] if t is None else torch.nonzero(t[0]).squeeze(1).tolist()  # noqa: E731
        records.append({"step": int(rec.ctx.step[0]), "unmasked": as_list(sel.chosen),
                        "remasked": as_list(sel.remask), "edited": as_list(sel.edit)})
    return on_step


def grid_shape(length: int) -> tuple[int, int]:
    side = math.isqrt(length)
    if side * side == length:
        return side, side
    cols = min(length, 32)
    return math.ceil(length / cols), cols


def draw(prompt, tokens, order, rewrites, reference, render_token, title: str, path: Path) -> None:
    length = prompt.numel()
    rows, cols = grid_shape(length)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * cols + 1.5), max(3.0, 0.55 * rows + 1.0)))
    steps = order.clamp(min=0).double()
    top = max(1.0, float(steps.max()))
    cmap = plt.get_cmap("viridis")
    for i in range(length):
        r, c = divmod(i, cols)
        given = bool(order[i] < 0)
        face = (0.85, 0.85, 0.85) if given else cmap(float(steps[i]) / top)
        ax.add_patch(plt.Rectangle((c, rows - 1 - r), 1, 1, facecolor=face, edgecolor="white"))
        wrong = reference is not None and int(tokens[i]) != int(reference[i])
        light = given or sum(face[:3]) > 1.8
        ax.text(c + 0.5, rows - 0.5 - r, render_token(int(tokens[i])), ha="center", va="center",
                fontsize=11, color="red" if wrong else ("black" if light else "white"),
                fontweight="bold" if wrong else "normal")
        if int(rewrites[i]):
            ax.text(c + 0.93, rows - 0.1 - r, f"\u21ba{int(rewrites[i])}", ha="right", va="top",
                    fontsize=6, color="orange")
    if rows == cols == 9:
        for k in range(0, 10, 3):
            ax.plot([0, 9], [k, k], color="black", lw=1.5)
            ax.plot([k, k], [0, 9], color="black", lw=1.5)
    ax.set_xlim(0, cols)
    ax.set_ylim(0, rows)
    ax.set_aspect("equal")
    ax.axis("off")
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, top))
    fig.colorbar(sm, ax=ax, fraction=0.046, pad=0.04, label="step of the final write")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)


def draw_trajectory(task, denoiser, policy, data, index: int, temperature: float, seed: int,
                    path: Path) -> dict:
    """Sample row `index` of `data` with `policy`, recording every step; draw it to `path`."""
    prompt = data.prompts[index:index + 1]
    reference = None if data.references is None else data.references[index]
    records: list = []
    result = sample(denoiser, policy, prompt, generator=torch.Generator().manual_seed(seed),
                    temperature=temperature, callbacks=[record_steps(records)])
    tokens = result.tokens[0]
    solved = None
    if hasattr(task, "correct"):
        refs = None if reference is None else reference[None]
        solved = bool(task.correct(result.tokens, prompt, refs)[0])
    render_token = getattr(task, "render_token", None) or (lambda t: str(t))
    status = "" if solved is None else (" solved" if solved else " NOT solved")
    title = (textwrap.fill(f"{policy!r}", 70) + f"\nrow {index} of {Path(str(data.source)).name}:{status}, "
             f"NFE {int(result.nfe[0])}, {int(result.rewrites[0].sum())} rewrites")
    draw(prompt[0], tokens, result.order[0], result.rewrites[0], reference, render_token, title, path)
    return {"index": index, "solved": solved, "nfe": int(result.nfe[0]), "tokens": tokens.tolist(),
            "order": result.order[0].tolist(), "rewrites": result.rewrites[0].tolist(),
            "steps": records}


def trajectory(cfg: DictConfig, run_dir: Path) -> dict:
    settings = instantiate(cfg.eval)
    task = instantiate(cfg.task)
    denoiser = frozen_for_task(instantiate(cfg.denoiser), task, settings.device)
    policy = instantiate(cfg.policy, _convert_="all")
    index = cfg.data.index
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"data.index must be a row number >= 0, got {index!r}")
    data = task.load_eval(cfg.data.path, index + 1, "first")
    if index >= len(data):
        raise ValueError(f"data.index={index} but {cfg.data.path} has {len(data)} rows")
    traced = draw_trajectory(task, denoiser, policy, data, index, settings.temperature, cfg.seed,
                             run_dir / "trajectory.png")
    out = {"policy": OmegaConf.to_container(cfg.policy), "data": str(data.source), **traced}
    atomic_write_text(json.dumps(out) + "\n", run_dir / "trajectory.json")
    status = "" if out["solved"] is None else (" solved" if out["solved"] else " NOT solved")
    print(f"{policy!r}: row {index}{status}, NFE {out['nfe']}, "
          f"{sum(out['rewrites'])} rewrites\npicture: {run_dir / 'trajectory.png'}")
    return out


@hydra.main(version_base=None, config_path="configs", config_name="trajectory")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("trajectory.json",)) as run_dir:
        trajectory(cfg, run_dir)


if __name__ == "__main__":
    main()
