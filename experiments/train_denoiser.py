"""Train an MDM denoiser with the masked-diffusion objective.

    python -m experiments.train_denoiser task=sudoku
    python -m experiments.train_denoiser task=sudoku resume=true     # after a kill

Checkpoints go to `<run dir>/checkpoints/last.pt` (written atomically every
`train.ckpt_every` steps) and the model folder to `<run dir>/model`; TensorBoard curves
`train/loss`, `val/loss`, `val/accuracy` to `<run dir>/tb`.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from denoiser import Denoiser, FrozenDenoiser, MDMTransformer, load_denoiser, masked_diffusion_loss

from .checkpointing import RunCheckpoint


def lr_at(step: int, s) -> float:
    """Linear warm-up, then cosine decay to `min_lr_ratio * lr`."""
    if step < s.warmup:
        return s.lr * (step + 1) / s.warmup
    progress = min(1.0, (step - s.warmup) / max(1, s.steps - s.warmup))
    return s.lr * (s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


@torch.no_grad()
def validation_loss(model, task, n: int, seed: int) -> float:
    """The objective on a fixed set of clean sequences with fixed masks (same every time)."""
    g = torch.Generator().manual_seed(seed)
    x0 = task.train_batch(n, g) if not hasattr(task, "val_sequences") else task.val_sequences(n)
    model.eval()
    loss, _ = masked_diffusion_loss(model, x0, torch.Generator().manual_seed(seed + 1))
    model.train()
    return loss.item()


def train(cfg: DictConfig, run_dir: Path) -> Path:
    s = instantiate(cfg.train)
    if s.threads:
        torch.set_num_threads(s.threads)
    task = instantiate(cfg.task)
    torch.manual_seed(cfg.seed)
    # the denoiser config gives an MDMConfig (the project's transformer) or builds a Denoiser
    # itself (a Hugging Face model wrapped by HFMaskedDenoiser); the task fills in its shape
    built = instantiate(cfg.denoiser, vocab_size=task.vocab_size, mask_id=task.mask_id,
                        max_length=task.length, structure=task.structure,
                        vocabulary=getattr(task, "vocabulary", None))
    model = built if isinstance(built, Denoiser) else MDMTransformer(built)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay,
                            betas=(0.9, 0.98))
    data_gen = torch.Generator().manual_seed(cfg.seed)
    checkpoint = RunCheckpoint(run_dir)
    step, saved = checkpoint.restore(cfg.resume, data_gen)
    if saved:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
    logger = instantiate(cfg.logger)(run_dir=run_dir, purge_step=step + 1 if step else None)
    n_params = model.num_parameters()
    print(f"training {n_params:,} parameters on {task.name} for {s.steps} steps "
          f"(batch {s.batch_size}, bf16={s.bf16}) in {run_dir}", flush=True)

    def save_checkpoint():
        checkpoint.save(step, data_gen, {"model": model.state_dict(), "optimizer": opt.state_dict()})

    def validate():
        model.eval()
        metrics = {"val/loss": validation_loss(model, task, s.val_grids, cfg.seed + 12345)}
        metrics.update({f"val/{k}": v for k, v in
                        task.validation_metrics(FrozenDenoiser(model)).items()})
        for p in model.parameters():      # FrozenDenoiser froze them; training goes on
            p.requires_grad_(True)
        model.train()
        logger.scalars(metrics, step)
        logger.flush()
        print(f"step {step}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)
        model.save_pretrained(run_dir / "model")

    model.train()
    t0, done_at_start = time.time(), step
    while step < s.steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, s)
        x0 = task.train_batch(s.batch_size, data_gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.bf16 and x0.device.type == "cpu"):
            loss, metrics = masked_diffusion_loss(model, x0, data_gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        step += 1
        if step % s.log_every == 0 or step == s.steps:
            rate = (step - done_at_start) / (time.time() - t0)
            logger.scalars({"train/loss": loss.item(), "train/token_accuracy": metrics["token_accuracy"],
                            "train/grad_norm": float(grad_norm), "train/lr": lr_at(step - 1, s),
                            "train/steps_per_second": rate}, step)
            eta = (s.steps - step) / max(rate, 1e-9)
            print(f"step {step}/{s.steps} loss {loss.item():.4f} tok_acc {metrics['token_accuracy']:.3f} "
                  f"{rate:.2f} steps/s eta {eta / 60:.1f} min", flush=True)
        if step % s.ckpt_every == 0 or step == s.steps:
            save_checkpoint()
        if step % s.eval_every == 0 or step == s.steps:
            validate()
    if not (run_dir / "model").exists():
        validate()
    logger.close()
    if cfg.export_to:
        load_denoiser(run_dir / "model").save_pretrained(cfg.export_to)
        print(f"exported to {cfg.export_to}", flush=True)
    return run_dir / "model"


@hydra.main(version_base=None, config_path="configs", config_name="train_denoiser")
def main(cfg: DictConfig) -> None:
    train(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
