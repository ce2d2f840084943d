"""Does a denoiser know which of its committed tokens are wrong? (issue 13; docs/results/sudoku_fix.md)

    python -m experiments.remask_signal [denoiser=...] [data.limit=N] [inner=factor inner_knobs.f=0.2]

A remasking planner can only learn what its inputs carry. On validation puzzles (never a
test-only file) this runs the one-pass `inner` rule and measures, for the denoiser given:

- per filled, non-given cell at every call of the one-pass decode: how well the denoiser's
  probability of the written token, p_i(x_i | state), separates wrong cells from right ones
  (ROC AUC of -p; 0.5 is no signal), and among the cells written at the previous call;
- on the completed boards: the same AUC over the cells of the failed boards, and the board
  check, the share of solved and of failed boards whose lowest p is at least `accept`;
- what the signal would buy if it were perfect: the accuracy and mean NFE of two oracles that
  see the solution (`vi.remask_oracle`): remasking exactly the wrong tokens at the call after
  they are written, and verified backtracking that goes back to the step of the first wrong
  commit (banning that step's weakest cell), beside self-verified backtracking with the
  default portfolio (`policy=backtrack`), which uses the denoiser only.

Writes `remask_signal.md` and `remask_signal.json` (atomically) and `eval/` scalars.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from denoiser.checkpoint import atomic_write_text
from planner import sample
from planner.registry import load_policy
from planner.revision import committed_prob, revisable
from vi.remask_oracle import FirstWrongStep, wrong_token_logits
from vi.remask_policy import RemaskPlanner

from .eval_source import guard_test_only
from .evaluation import frozen_for_task
from .metrics import roc_auc, wilson_interval
from .run_folder import run_folder


class CellRecorder:
    """A `sample()` callback: at every call, -p of the written token and whether it is wrong
    at each filled non-given cell, and whether the cell was written at the previous call."""

    def __init__(self, references: torch.Tensor):
        self.references = references
        self.scores, self.wrong, self.fresh = [], [], []
        self._last_order = {}

    def __call__(self, record) -> None:
        ctx = record.ctx
        filled = revisable(ctx)
        x = self.references.to(ctx.tokens.device)[ctx.rows]
        p = committed_prob(ctx)
        self.scores.append(-p[filled].cpu())
        self.wrong.append((ctx.tokens != x)[filled].cpu())
        # written at the previous call: filled now, masked at the previous call's state
        prev = self._last_order
        fresh = torch.zeros_like(filled)
        for i, row in enumerate(ctx.rows.tolist()):
            if row in prev:
                fresh[i] = filled[i] & prev[row]
        self.fresh.append(fresh[filled].cpu())
        self._last_order = {row: ctx.masked[i].cpu() for i, row in enumerate(ctx.rows.tolist())}



def pooled_auc(recorders, only_fresh: bool = False) -> tuple[float | None, int, float]:
    """(AUC, cells, share wrong) over the cells of every recorder (one per batch)."""
    s = torch.cat([t for r in recorders for t in r.scores])
    w = torch.cat([t for r in recorders for t in r.wrong])
    if only_fresh:
        f = torch.cat([t for r in recorders for t in r.fresh])
        s, w = s[f], w[f]
    return roc_auc(w, s), int(w.numel()), float(w.float().mean()) if w.numel() else 0.0


def run(name: str, denoiser, policy, data, task, batch_size: int, callbacks=()) -> dict:
    t0 = time.perf_counter()
    tokens, nfe, rewrites = [], [], []
    for start in range(0, len(data), batch_size):
        prompts = data.prompts[start:start + batch_size]
        p = policy(start) if callable(policy) and not hasattr(policy, "select") else policy
        out = sample(denoiser, p, prompts, generator=torch.Generator().manual_seed(start),
                     callbacks=[cb(start) for cb in callbacks])
        tokens.append(out.tokens.cpu())
        nfe.append(out.nfe.cpu())
        rewrites.append(out.rewrites.sum(-1).cpu())
    tokens = torch.cat(tokens)
    correct = task.correct(tokens, data.prompts, data.references)
    k, n = int(correct.sum()), correct.numel()
    row = {"name": name, "accuracy": k / n, "ci95": list(wilson_interval(k, n)), "n": n,
           "nfe_mean": float(torch.cat(nfe).float().mean()),
           "rewrites_mean": float(torch.cat(rewrites).float().mean()),
           "seconds": time.perf_counter() - t0}
    print(f"{name}: {row['accuracy']:.3f} at {row['nfe_mean']:.1f} calls "
          f"({row['rewrites_mean']:.1f} rewrites)", flush=True)
    return row, tokens, correct


def board_signal(denoiser, data, tokens, correct, accept: float, batch_size: int) -> dict:
    """One call on each completed board: its cells' p, the board check, the AUC on the failed."""
    scores, wrong, board_min = [], [], []
    for start in range(0, len(data), batch_size):
        t = tokens[start:start + batch_size]
        out = denoiser(t)
        logits = out.logits.float()
        logits[..., denoiser.mask_id] = float("-inf")
        p = torch.softmax(logits, -1).gather(-1, t[..., None].to(logits.device)).squeeze(-1).cpu()
        free = data.prompts[start:start + batch_size] == denoiser.mask_id
        board_min.append(p.masked_fill(~free, 1.0).min(-1).values)
        bad = ~correct[start:start + batch_size]
        w = (t != data.references[start:start + batch_size]) & free
        scores.append(-p[bad][free[bad]])
        wrong.append(w[bad][free[bad]])
    board_min = torch.cat(board_min)
    auc = roc_auc(torch.cat(wrong), torch.cat(scores)) if scores else None
    passed = board_min >= accept
    return {"auc_failed_boards": auc,
            "solved_pass": float(passed[correct].float().mean()) if correct.any() else None,
            "failed_pass": float(passed[~correct].float().mean()) if (~correct).any() else None}


def remask_signal(cfg: DictConfig, run_dir: Path) -> dict:
    settings = instantiate(cfg.eval)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    task = instantiate(cfg.task)
    if not hasattr(task, "correct"):
        raise ValueError(f"task {task.name!r} has no right answer: wrong tokens need one")
    guard_test_only(cfg.data.path, cfg, "data.path")
    denoiser = frozen_for_task(instantiate(cfg.denoiser), task, settings.device)
    data = task.load_eval(cfg.data.path, cfg.data.limit, cfg.data.select)
    if data.references is None:
        raise ValueError(f"{data.source} has no solutions: wrong tokens need them")
    knobs = OmegaConf.to_container(cfg.inner_knobs, resolve=True) or {}
    bs = settings.batch_size
    recorders = {}

    def recorder(start):
        recorders[start] = CellRecorder(data.references[start:start + bs])
        return recorders[start]

    logger = instantiate(cfg.logger)(run_dir=run_dir)
    plain, tokens, correct = run(f"{cfg.inner} {knobs}", denoiser, load_policy(cfg.inner, **knobs),
                                 data, task, bs, callbacks=[recorder])
    auc_all, n_all, wrong_share = pooled_auc(recorders.values())
    auc_fresh, n_fresh, fresh_wrong = pooled_auc(recorders.values(), only_fresh=True)
    board = board_signal(denoiser, data, tokens, correct, cfg.accept, bs)
    rows = [plain]
    oracle_remask = lambda start: RemaskPlanner(  # noqa: E731
        wrong_token_logits(data.references[start:start + bs]), cfg.inner, knobs, max_nfe=cfg.max_nfe)
    rows.append(run("oracle: remask the wrong tokens", denoiser, oracle_remask, data, task, bs)[0])
    first_wrong = lambda start: FirstWrongStep(  # noqa: E731
        data.references[start:start + bs], cfg.inner, knobs, accept=cfg.accept, max_nfe=cfg.max_nfe)
    rows.append(run("oracle: back to the first wrong step", denoiser, first_wrong, data, task, bs)[0])
    rows.append(run("backtrack (default portfolio)", denoiser,
                    load_policy("backtrack", max_nfe=cfg.max_nfe), data, task, bs)[0])
    result = {"denoiser": OmegaConf.to_container(cfg.denoiser, resolve=True),
              "data": {"path": cfg.data.path, "select": cfg.data.select, "n": len(data)},
              "cells": {"auc_every_call": auc_all, "cells": n_all, "wrong_share": wrong_share,
                        "auc_just_written": auc_fresh, "cells_just_written": n_fresh,
                        "wrong_share_just_written": fresh_wrong},
              "boards": board, "rows": rows}
    step = 0
    for key, value in {**result["cells"], **result["boards"]}.items():
        if isinstance(value, float):
            logger.scalars({f"eval/signal/{key}": value}, step)
    for r in rows:
        logger.scalars({f"eval/{r['name']}/accuracy": r["accuracy"],
                        f"eval/{r['name']}/nfe_mean": r["nfe_mean"]}, int(round(r["nfe_mean"])))
    logger.close()
    md = markdown(result, cfg)
    atomic_write_text(md, run_dir / "remask_signal.md")
    atomic_write_text(json.dumps(result, indent=2) + "\n", run_dir / "remask_signal.json")
    print("\n" + md)
    return result


def fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def markdown(result: dict, cfg: DictConfig) -> str:
    c, b = result["cells"], result["boards"]
    lines = [f"# Does the denoiser know its wrong tokens?\n",
             f"{result['data']['n']} puzzles of `{result['data']['path']}` "
             f"(select {result['data']['select']}), inner rule `{cfg.inner}` {dict(cfg.inner_knobs)}.\n",
             "| signal | value |", "|---|---:|",
             f"| AUC of -p(token), every filled cell at every call ({c['cells']} cells, "
             f"{c['wrong_share']:.1%} wrong) | {fmt(c['auc_every_call'])} |",
             f"| the same, cells written at the previous call ({c['cells_just_written']} cells, "
             f"{c['wrong_share_just_written']:.1%} wrong) | {fmt(c['auc_just_written'])} |",
             f"| AUC of -p(token) over the cells of the failed completed boards | "
             f"{fmt(b['auc_failed_boards'])} |",
             f"| solved boards whose lowest p >= {cfg.accept} | {fmt(b['solved_pass'])} |",
             f"| failed boards whose lowest p >= {cfg.accept} | {fmt(b['failed_pass'])} |", "",
             "| sampler | accuracy | 95% CI | mean NFE | rewrites per puzzle |",
             "|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lo, hi = r["ci95"]
        lines.append(f"| {r['name']} | {r['accuracy']:.3f} | {lo:.3f}-{hi:.3f} | "
                     f"{r['nfe_mean']:.1f} | {r['rewrites_mean']:.1f} |")
    return "\n".join(lines) + "\n"


@hydra.main(version_base=None, config_path="configs", config_name="remask_signal")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("remask_signal.json",)) as run_dir:
        remask_signal(cfg, run_dir)


if __name__ == "__main__":
    main()
