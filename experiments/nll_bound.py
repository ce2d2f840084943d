"""The NLL bound per character of held-out text along unmasking orders (docs/design.md section 4).

    python -m experiments.nll_bound [denoiser=text] [data.path=validation] [data.limit=N]

For each order in `orders` (a policy config name and its settings) it teacher-forces every
held-out window through the denoiser (`planner.order_log_likelihood`) and reports the NLL per
generated character in nats and bits: for `random_k` (one position per step, uniformly random
order; `draws` independent orders per window) this is the MDLM bound; for `topk_margin` the
exact NLL of the top-k margin sampler's own order. `mc_loss` adds the continuous-time
objective's Monte-Carlo estimate of the MDLM bound (`denoiser/objective.py`, `mc_draws` mask
draws per window) as an independent check of the random-order figure. Every order after the
first is also reported as a paired difference, on the same windows, from the first or from the
earlier order its `reference` names. Writes
`results.json` and TensorBoard scalars `eval/<order>/bits_per_char`.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from denoiser import masked_diffusion_loss
from denoiser.genmd4 import GenMD4Objective, masking_power
from denoiser.checkpoint import atomic_write_text
from planner.order_likelihood import order_log_likelihood
from planner.registry import load_policy

from .eval_source import held_out_note, load_eval_data
from .evaluation import frozen_for_task
from .metrics import mean_interval
from .run_folder import run_folder


def order_nll(denoiser, policy, x: torch.Tensor, generate: torch.Tensor, *, batch_size: int,
              draws: int = 1, seed: int = 0, progress: str = "") -> tuple[dict, torch.Tensor]:
    """NLL per generated character (nats, bits) of `x` along `policy`'s order, pooled over
    windows and `draws` orders per window, with a 95% interval over windows; and the `[n]`
    per-window NLLs (nats per character) it pools, for paired differences."""
    generator = torch.Generator().manual_seed(seed)
    per_window = torch.zeros(len(x), dtype=torch.float64)
    nfe = torch.zeros(len(x), dtype=torch.float64)
    t0 = time.perf_counter()
    for _ in range(draws):
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            out = order_log_likelihood(denoiser, policy, x[rows], generate[rows], generator=generator)
            per_window[rows] += -out.log_likelihood / out.n_generated / draws
            nfe[rows] += out.nfe.double() / draws
        if progress:
            print(f"  {progress}: draw done, {time.perf_counter() - t0:.0f} s", flush=True)
    mean, lo, hi = mean_interval(per_window)
    return {"nats_per_char": mean, "bits_per_char": mean / math.log(2),
            "bits_ci95": [lo / math.log(2), hi / math.log(2)],
            "nfe_mean": float(nfe.mean()), "n": len(x), "draws": draws,
            "seconds": time.perf_counter() - t0}, per_window


def paired_difference(per_window: torch.Tensor, reference: torch.Tensor) -> dict:
    """bits/char of one order minus a reference order from their per-window NLLs (nats) on the
    same windows, with a 95% interval over windows: far tighter than comparing the two
    intervals, since both see the same text."""
    mean, lo, hi = mean_interval(per_window - reference)
    return {"bits_per_char": mean / math.log(2), "bits_ci95": [lo / math.log(2), hi / math.log(2)]}


@torch.no_grad()
def mc_loss(model, x: torch.Tensor, generate: torch.Tensor, *, batch_size: int, draws: int,
            seed: int) -> dict:
    """The continuous-time objective (nats per generated character), averaged over draws: the
    MD4 / MDLM bound, or for a model with a learned schedule (GenMD4) its own bound."""
    generator = torch.Generator().manual_seed(seed)
    genmd4 = masking_power(model) is not None
    total, count = 0.0, 0
    for _ in range(draws):
        for start in range(0, len(x), batch_size):
            rows = slice(start, start + batch_size)
            if genmd4:
                _, metrics = GenMD4Objective()(model, x[rows], generator, maskable=generate[rows])
                loss = metrics["nelbo"]
            else:
                loss, _ = masked_diffusion_loss(model, x[rows], generator, maskable=generate[rows])
            total += float(loss) * len(x[rows])
            count += len(x[rows])
    return {"nats_per_char": total / count, "bits_per_char": total / count / math.log(2),
            "draws": draws, "objective": "genmd4" if genmd4 else "masked"}


def order_label(entry: dict) -> str:
    """An order's label: its `label`, else its policy's name."""
    return entry.get("label") or entry["policy"]


def check_references(orders: list[dict]) -> None:
    """Every order's label is its own, and a `reference` names an earlier order's label."""
    seen = []
    for entry in orders:
        label = order_label(entry)
        if label in seen:
            raise ValueError(f"orders: the label {label!r} is used twice; give each order its own")
        reference = entry.get("reference")
        if reference is not None and reference not in seen:
            raise ValueError(f"orders: {label!r} is paired with reference={reference!r}, which is "
                             f"not an earlier order's label (earlier: {seen})")
        seen.append(label)


def nll_bound(cfg: DictConfig, run_dir: Path) -> dict:
    settings = instantiate(cfg.eval)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    task = instantiate(cfg.task)
    model = instantiate(cfg.denoiser)
    denoiser = frozen_for_task(model, task, settings.device)
    data, test_only = load_eval_data(cfg, task)
    x, generate = data.references, data.prompts == task.mask_id
    print(f"NLL along {len(cfg.orders)} orders on {len(x)} windows of {data.source}", flush=True)
    results = {"data": data.source, **held_out_note(test_only),
               "denoiser": OmegaConf.to_container(cfg.denoiser), "orders": {}}
    logger = instantiate(cfg.logger)(run_dir=run_dir)
    orders = OmegaConf.to_container(cfg.orders, resolve=True)
    check_references(orders)       # before any order runs
    per_order = {}                 # label -> per-window NLLs, for paired differences
    first_label = None             # the default paired reference: the first order
    for entry in orders:
        name, settings_ = entry["policy"], dict(entry.get("settings") or {})
        label = order_label(entry)
        r, per_window = order_nll(denoiser, load_policy(name, **settings_), x, generate,
                                  batch_size=settings.batch_size, draws=entry.get("draws", 1),
                                  seed=cfg.seed, progress=label)
        lo, hi = r["bits_ci95"]
        print(f"{label:<24} {r['bits_per_char']:.4f} bits/char (95% CI {lo:.4f}-{hi:.4f}), "
              f"{r['nats_per_char']:.4f} nats/char, NFE {r['nfe_mean']:.1f}, "
              f"{r['seconds']:.0f} s", flush=True)
        reference = entry.get("reference", first_label)
        per_order[label] = per_window
        if first_label is None:
            first_label = label
        elif reference is not None:
            d = paired_difference(per_window, per_order[reference])
            r[f"minus_{reference}"] = d
            print(f"{'':<24} {d['bits_per_char']:+.4f} bits/char against {reference} on the "
                  f"same windows (95% CI {d['bits_ci95'][0]:+.4f} to {d['bits_ci95'][1]:+.4f})",
                  flush=True)
        logger.scalars({f"eval/{label}/bits_per_char": r["bits_per_char"]}, 0)
        results["orders"][label] = {"policy": name, "settings": settings_, **r}
    if cfg.mc_draws:
        r = mc_loss(denoiser.model, x, generate, batch_size=settings.batch_size,
                    draws=cfg.mc_draws, seed=cfg.seed)
        results["mc_loss"] = r
        print(f"{'mc_loss (' + r['objective'] + ')':<24} {r['bits_per_char']:.4f} bits/char, "
              f"{r['nats_per_char']:.4f} nats/char ({r['draws']} mask draws per window)")
    logger.close()
    atomic_write_text(json.dumps(results, indent=2) + "\n", run_dir / "results.json")
    print(f"results: {run_dir / 'results.json'}")
    return results


@hydra.main(version_base=None, config_path="configs", config_name="nll_bound")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("results.json",)) as run_dir:
        nll_bound(cfg, run_dir)


if __name__ == "__main__":
    main()
