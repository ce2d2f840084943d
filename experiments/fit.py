"""The loop the supervised trainers share (`train_denoiser`, `train_ar`).

AdamW with a linear warm-up and cosine decay, bf16 autocast on the CPU, gradient clipping,
TensorBoard `train/` and `val/` tags, an atomic checkpoint every `ckpt_every` steps that a
killed run resumes from (`resume=true`), and the model folder `<run dir>/model` written at
every validation; the validation point of lowest `val/loss` is also kept in `<run dir>/best`
(`train.export=best` exports it). The trainer supplies the loss of a batch and the validation metrics.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from denoiser.atomic import atomic_write_text

from .checkpointing import RunCheckpoint
from .run_folder import command, settings_of

# what may change when a run is resumed; any other setting that differs is refused
RESUMABLE = ("resume", "export_to", "train.threads", "train.steps")


def setup(cfg: DictConfig) -> tuple:
    """A trainer's start: (its `cfg.train` settings, the task), the thread count set when the
    settings give one and torch seeded with `cfg.seed` (the model's initialisation)."""
    s = instantiate(cfg.train)
    if s.threads:
        torch.set_num_threads(s.threads)
    task = instantiate(cfg.task)
    torch.manual_seed(cfg.seed)
    return s, task


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX512-BF16 or AMX); on one with AVX2 only,
    bf16 matmuls are emulated, about 50 times slower than float32 (measured here)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True          # cannot tell: say nothing


def lr_at(step: int, s) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio * lr`."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = min(1.0, (step - s.warmup) / max(1, s.steps - s.warmup))
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def fit(cfg: DictConfig, run_dir: Path, s, task, model: torch.nn.Module, what: str,
        batch_loss: Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, dict]],
        val_metrics: Callable[[], dict[str, float]], load: Callable[[Path], object],
        module: str = "experiments.train_denoiser") -> Path:
    """Train `model` on `task.train_batch` for `s.steps` steps (`s`: DenoiserTrainSettings);
    returns the model folder, `<run dir>/model`.

    what: how the start line names the model. batch_loss(x, data_generator) -> (loss, extra
    training metrics, logged as `train/<name>`). val_metrics() -> metrics logged as
    `val/<name>`; it may switch the model to eval mode, `fit` switches it back. load(folder):
    the model class's loader; with `cfg.export_to` the trained folder is loaded back through it
    (its checks included) and saved there.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay,
                            betas=(0.9, 0.98))
    data_gen = torch.Generator().manual_seed(cfg.seed)
    checkpoint = RunCheckpoint(run_dir, settings_of(cfg, RESUMABLE), command(module))
    step, saved = checkpoint.restore(cfg.resume, data_gen)
    best = {"loss": float("inf"), "step": None}
    if saved:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        best = saved.get("best", best)
    logger = instantiate(cfg.logger)(run_dir=run_dir, purge_step=step + 1 if step else None)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"training {what}, {n_params:,} parameters, on {task.name} for {s.steps} steps "
          f"(batch {s.batch_size}, bf16={s.bf16}) in {run_dir}", flush=True)
    if s.bf16 and next(model.parameters()).device.type == "cpu" and not cpu_has_native_bf16():
        print("warning: train.bf16=true, but this CPU has no native bf16 (AVX2 only): its bf16 "
              "matmuls are emulated, about 50x slower than float32 here; pass train.bf16=false",
              flush=True)

    def validate():
        metrics = {f"val/{k}": v for k, v in val_metrics().items()}
        model.train()
        logger.scalars(metrics, step)
        logger.flush()
        print(f"step {step}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)
        model.save_pretrained(run_dir / "model")
        if metrics.get("val/loss", float("inf")) < best["loss"]:
            best.update(loss=metrics["val/loss"], step=step)
            model.save_pretrained(run_dir / "best")
            atomic_write_text(f"step {step} val/loss {best['loss']:.6f}\n", run_dir / "best_step.txt")

    model.train()
    t0, done_at_start = time.time(), step
    while step < s.steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, s)
        x = task.train_batch(s.batch_size, data_gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.bf16 and x.device.type == "cpu"):
            loss, extra = batch_loss(x, data_gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        step += 1
        if step % s.log_every == 0 or step == s.steps:
            rate = (step - done_at_start) / (time.time() - t0)
            logger.scalars({"train/loss": loss.item(), **{f"train/{k}": v for k, v in extra.items()},
                            "train/grad_norm": float(grad_norm), "train/lr": lr_at(step - 1, s),
                            "train/steps_per_second": rate}, step)
            eta = (s.steps - step) / max(rate, 1e-9)
            print(f"step {step}/{s.steps} loss {loss.item():.4f} "
                  + "".join(f"{k} {v:.3f} " for k, v in extra.items())
                  + f"{rate:.2f} steps/s eta {eta / 60:.1f} min", flush=True)
        if step % s.eval_every == 0 or step == s.steps:
            validate()
        if step % s.ckpt_every == 0 or step == s.steps:
            checkpoint.save(step, data_gen, {"model": model.state_dict(),
                                             "optimizer": opt.state_dict(), "best": best})
    if not (run_dir / "model").exists():
        validate()
    logger.close()
    if cfg.export_to:
        chosen = run_dir / ("best" if s.export == "best" and (run_dir / "best").exists() else "model")
        load(chosen).save_pretrained(cfg.export_to)
        print(f"exported {chosen} to {cfg.export_to}"
              + (f" (val/loss {best['loss']:.4f} at step {best['step']})" if chosen.name == "best" else ""),
              flush=True)
    return run_dir / "model"
