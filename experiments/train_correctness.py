"""Train the correctness planner (`policy=learned_correct`, issue 14): a small network that
reads a masked cell's statistics and its group-mates' marginals (`vi.unit_features`) and gives
the probability that the denoiser's argmax there is right (`vi.correctness`).

    python -m experiments.train_correctness                      # Sudoku, shipped denoiser
    python -m experiments.train_correctness resume=true          # after a kill
    python -m experiments.train_correctness export_to=weights/sudoku-correctness

States come from the sampler itself on fresh puzzles (the denoiser's own errors in them):
by default validation rows outside the bar's 2,000 and the validation rows (`data.source=file`;
`data.source=generated` draws the task's generated grids instead); round 0 from `train.collect_policy` at each `train.collect_f`, later rounds from the
model's own policy at each `train.self_f`; after each round the model is fitted on every
state so far by binary cross-entropy against "argmax = the clean token" (maximum likelihood,
not variational inference: the label is the solution, which the model never sees at sampling
time). The denoiser stays frozen.

TensorBoard: train/loss (every train.log_every Adam steps, step = the fit's global Adam step),
train/cells and train/share_right (per round, step = round); val/accuracy, val/nfe of the
policy at train.val_f on spread validation puzzles, val/auc and val/loss on the states
`collect_policy` reaches on them (step = round; round 0 is after the first fit). Checkpoints:
`<run dir>/checkpoints/round_<r>.pt` after each round (atomic); a killed run resumes at the
first round not saved. The model folder is `<run dir>/model`, copied to `export_to`.
"""
from __future__ import annotations

import time
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from denoiser.checkpoint import atomic_torch_save, load_folder, save_folder
from planner import sample
from planner.registry import load_policy
from vi.correctness import CorrectnessNet, load_correctness, save_correctness
from vi.learned_correct_policy import COUNTS, CorrectnessScore, count_budget
from vi.unit_features import cell_features
from planner.policy import ScoredPolicy

from .eval_source import guard_test_only
from .evaluation import frozen_for_task
from .metrics import roc_auc
from .off_bar import spread_rows
from .run_folder import command, run_folder, settings_of
from .train_planner import validation_metrics

# what may change when a run is resumed; any other setting that differs is refused
RESUMABLE = ("resume", "export_to", "train.threads", "train.rounds")


SOURCES = ("file", "generated")


class PuzzleSource:
    """Fresh training puzzles, `next(n)` at a time: clean grids and prompts `[n, L]`.

    source "file": the rows of a validation CSV in order, leaving out the bar's spread rows
    (`exclude_spread`, as `experiments.off_bar` does) and the validation rows (spread
    `val_limit`), so that nothing trained on is ever measured; "generated": the task's
    generated grids with a random number of givens in [givens_min, givens_max]."""

    def __init__(self, task, data: DictConfig, s, data_gen: torch.Generator, val_limit: int):
        if data.source not in SOURCES:
            raise ValueError(f"data.source must be one of {SOURCES}, got {data.source!r}")
        self.task, self.s, self.gen, self.cursor = task, s, data_gen, 0
        self.source = data.source
        if self.source == "file":
            guard_test_only(data.path, OmegaConf.create({}), "data.path")   # never trained on
            rows = task.load_eval(data.path, None, "first")
            n = len(rows)
            dropped = spread_rows(n, int(data.exclude_spread)) | spread_rows(n, val_limit)
            keep = torch.tensor([i for i in range(n) if i not in dropped])
            self.clean, self.prompts = rows.references[keep], rows.prompts[keep]
            self.where = f"{data.path} ({len(keep)} rows outside its {data.exclude_spread} and " \
                         f"{val_limit} spread rows)"

    def next(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.source == "generated":
            clean, generate = self.task.planner_batch(n, self.gen,
                                                      (self.s.givens_min, self.s.givens_max))
            return clean, clean.masked_fill(generate, self.task.mask_id)
        if self.cursor + n > self.clean.shape[0]:
            raise ValueError(f"the run needs more puzzles than {self.where} holds: lower "
                             f"train.puzzles or train.rounds")
        a, self.cursor = self.cursor, self.cursor + n
        return self.clean[a:self.cursor], self.prompts[a:self.cursor]


def model_policy(net: CorrectnessNet, f: float, count: str) -> ScoredPolicy:
    """The policy `learned_correct` (its `count`) on an in-memory network."""
    return ScoredPolicy(CorrectnessScore(net), count_budget(f, count))


def collect_states(frozen, policy, prompts: torch.Tensor, clean: torch.Tensor, structure: str,
                   batch_size: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The features `[cells, F]` and labels `[cells]` (1: the argmax is the clean token) of
    every masked cell at every call of `policy` on `prompts`, and the denoiser calls spent."""
    feats, labels, calls = [], [], 0

    def record(rec, reference):
        ctx = rec.ctx
        f = cell_features(ctx.probs, ctx.masked, ctx.initial_masked, structure)
        right = ctx.probs.argmax(-1) == reference[ctx.rows]
        feats.append(f[ctx.masked].cpu())
        labels.append(right[ctx.masked].float().cpu())

    for start in range(0, prompts.shape[0], batch_size):
        reference = clean[start:start + batch_size].to(frozen.device)
        out = sample(frozen, policy, prompts[start:start + batch_size],
                     generator=torch.Generator().manual_seed(start),
                     callbacks=[lambda rec, ref=reference: record(rec, ref)])
        calls += int(out.nfe.sum())
    return torch.cat(feats), torch.cat(labels), calls


def fit(net: CorrectnessNet, opt, x: torch.Tensor, y: torch.Tensor, s, gen: torch.Generator,
        logger, step0: int) -> float:
    """`s.iterations` Adam steps of binary cross-entropy on minibatches; the last loss."""
    net.train()
    loss = torch.tensor(float("nan"))
    for it in range(1, s.iterations + 1):
        idx = torch.randint(0, x.shape[0], (s.batch_cells,), generator=gen)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net.logits_of(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % s.log_every == 0 or it == s.iterations:
            logger.scalars({"train/loss": loss.item()}, step0 + it)
    net.eval()
    return loss.item()


def validate(net, frozen, task, val, val_states, s) -> dict[str, float]:
    x, y = val_states
    with torch.no_grad():
        logits = net.logits_of(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
    return {**validation_metrics(task, frozen, model_policy(net, s.val_f, s.count), val),
            "val/auc": roc_auc(y.bool(), logits), "val/loss": float(loss)}


def train(cfg: DictConfig, run_dir: Path) -> Path:
    s = instantiate(cfg.train)
    if s.count not in COUNTS:
        raise ValueError(f"train.count must be one of {COUNTS}, got {s.count!r}")
    if s.threads:
        torch.set_num_threads(s.threads)
    task = instantiate(cfg.task)
    if not hasattr(task, "correct") or not hasattr(task, "planner_batch"):
        raise ValueError(f"task {task.name!r} has no right answer or no planner batches: the "
                         f"correctness planner needs both")
    frozen = frozen_for_task(instantiate(cfg.denoiser), task)
    weights_before = frozen.fingerprint()
    guard_test_only(cfg.val_path, cfg, "val_path")         # selection never on test-only data
    val = task.load_eval(cfg.val_path, s.val_limit, "spread")
    if val.references is None:
        raise ValueError(f"{cfg.val_path} has no solutions: validation needs them")
    torch.manual_seed(cfg.seed)
    net = CorrectnessNet(task.structure, hidden=s.hidden, layers=s.layers)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    data_gen = torch.Generator().manual_seed(cfg.seed)
    fit_gen = torch.Generator().manual_seed(cfg.seed + 1)
    settings = settings_of(cfg, RESUMABLE)
    ckpt_dir = run_dir / "checkpoints"

    puzzles = PuzzleSource(task, cfg.data, s, data_gen, s.val_limit)
    start_round, xs, ys, calls = 0, [], [], 0
    if cfg.resume:
        done = sorted(ckpt_dir.glob("round_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
        if done:
            saved = torch.load(done[-1], weights_only=False)
            if saved["settings"] != settings:
                raise ValueError(f"resume=true, but the settings differ from the run in "
                                 f"{run_dir}: resume with its settings, or start a new run in "
                                 f"another hydra.run.dir")
            start_round = saved["round"] + 1
            xs, ys, calls = [saved["x"]], [saved["y"]], saved["calls"]
            net.load_state_dict(saved["net"])
            opt.load_state_dict(saved["opt"])
            data_gen.set_state(saved["data_generator"])
            fit_gen.set_state(saved["fit_generator"])
            puzzles.cursor = saved["cursor"]
            print(f"resumed from {done[-1]} (round {saved['round']} done)", flush=True)
    logger = instantiate(cfg.logger)(run_dir=run_dir)
    print(f"training the correctness planner ({sum(p.numel() for p in net.parameters()):,} "
          f"parameters) on {task.name} for {s.rounds} rounds in {run_dir}", flush=True)
    val_states = collect_states(frozen, load_policy(s.collect_policy, f=s.val_collect_f),
                                val.prompts, val.references, task.structure, s.batch_size)[:2]
    t0 = time.time()
    for rnd in range(start_round, s.rounds):
        knobs = s.collect_f if rnd == 0 else s.self_f
        for f in knobs:
            clean, prompts = puzzles.next(s.puzzles)
            policy = load_policy(s.collect_policy, f=f) if rnd == 0 else model_policy(net, f, s.count)
            x, y, c = collect_states(frozen, policy, prompts, clean, task.structure, s.batch_size)
            xs.append(x)
            ys.append(y)
            calls += c
            print(f"round {rnd}: {x.shape[0]:,} cells from "
                  f"{s.collect_policy if rnd == 0 else 'learned_correct'} f={f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
        x, y = torch.cat(xs), torch.cat(ys)
        xs, ys = [x], [y]
        if rnd == 0:
            with torch.no_grad():
                net.set_normalisation(x)
        loss = fit(net, opt, x, y, s, fit_gen, logger, rnd * s.iterations)
        metrics = validate(net, frozen, task, val, val_states, s)
        logger.scalars({"train/cells": float(x.shape[0]), "train/share_right": float(y.mean()),
                        "train/denoiser_calls": float(calls), **metrics}, rnd)
        logger.flush()
        print(f"round {rnd}: fit loss {loss:.4f}, " + ", ".join(f"{k}={v:.4f}" for k, v in
                                                                 metrics.items()), flush=True)
        record = {"rounds": rnd + 1, "cells": int(x.shape[0]), "denoiser_calls": calls,
                  "task": task.name, "puzzles": cfg.data.source, **{k.replace("/", "_"): v for k, v in metrics.items()}}
        save_correctness(run_dir / "model", net, frozen, {"trained": record})
        atomic_torch_save({"round": rnd, "x": x, "y": y, "calls": calls, "net": net.state_dict(),
                           "opt": opt.state_dict(), "data_generator": data_gen.get_state(),
                           "fit_generator": fit_gen.get_state(), "cursor": puzzles.cursor,
                           "settings": settings}, ckpt_dir / f"round_{rnd}.pt")
    logger.close()
    if frozen.fingerprint() != weights_before:
        raise RuntimeError("the denoiser's weights changed during correctness training")
    if cfg.export_to:
        load_correctness(run_dir / "model", frozen)             # refuses a mismatched export
        config, state = load_folder(run_dir / "model")
        config["trained"]["command"] = command("experiments.train_correctness")
        save_folder(cfg.export_to, config, state)
        print(f"exported to {cfg.export_to}", flush=True)
    return run_dir / "model"


@hydra.main(version_base=None, config_path="configs", config_name="train_correctness")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("checkpoints/round_0.pt", "model")) as run_dir:
        train(cfg, run_dir)


if __name__ == "__main__":
    main()
