"""Train the autoregressive character model that scores text samples (generative perplexity).

    python -m experiments.train_ar train.threads=1 export_to=weights/text-ar
    python -m experiments.train_ar resume=true          # after a kill

It learns from the text task's training split only (random windows), is validated on the
validation split, and is never trained with a denoiser's samples. Checkpoints go to
`<run dir>/checkpoints/last.pt` (atomic, every `train.ckpt_every` steps), the model folder to
`<run dir>/model`; TensorBoard `train/loss`, `val/loss`, `val/bits_per_char` to `<run dir>/tb`.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from tasks.text.ar_model import CharARTransformer

from .checkpointing import RunCheckpoint
from .train_denoiser import lr_at


@torch.no_grad()
def validation_nll(model: CharARTransformer, task, n: int) -> float:
    """Mean NLL per character (nats) on `n` fixed validation windows."""
    model.eval()
    x = task.val_sequences(n)
    nll = torch.cat([model.nll(x[i:i + 128]) for i in range(0, n, 128)])
    model.train()
    return float(nll.mean())


def train(cfg: DictConfig, run_dir: Path) -> Path:
    s = instantiate(cfg.train)
    if s.threads:
        torch.set_num_threads(s.threads)
    task = instantiate(cfg.task)
    torch.manual_seed(cfg.seed)
    model = CharARTransformer(instantiate(cfg.model, vocabulary=task.vocabulary,
                                          max_length=task.length))
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay,
                            betas=(0.9, 0.98))
    data_gen = torch.Generator().manual_seed(cfg.seed)
    checkpoint = RunCheckpoint(run_dir)
    step, saved = checkpoint.restore(cfg.resume, data_gen)
    if saved:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
    logger = instantiate(cfg.logger)(run_dir=run_dir, purge_step=step + 1 if step else None)
    print(f"training a {model.num_parameters():,}-parameter autoregressive scorer on {task.name} "
          f"for {s.steps} steps (batch {s.batch_size}) in {run_dir}", flush=True)

    def validate():
        nll = validation_nll(model, task, s.val_grids)
        metrics = {"val/loss": nll, "val/bits_per_char": nll / math.log(2)}
        logger.scalars(metrics, step)
        logger.flush()
        print(f"step {step}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)
        model.save_pretrained(run_dir / "model")

    model.train()
    t0, done_at_start = time.time(), step
    while step < s.steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, s)
        x = task.train_batch(s.batch_size, data_gen)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=s.bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float().transpose(1, 2), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), s.grad_clip)
        opt.step()
        step += 1
        if step % s.log_every == 0 or step == s.steps:
            rate = (step - done_at_start) / (time.time() - t0)
            logger.scalars({"train/loss": loss.item(), "train/grad_norm": float(grad_norm),
                            "train/lr": lr_at(step - 1, s), "train/steps_per_second": rate}, step)
            print(f"step {step}/{s.steps} loss {loss.item():.4f} {rate:.2f} steps/s "
                  f"eta {(s.steps - step) / max(rate, 1e-9) / 60:.1f} min", flush=True)
        if step % s.ckpt_every == 0 or step == s.steps:
            checkpoint.save(step, data_gen, {"model": model.state_dict(),
                                             "optimizer": opt.state_dict()})
        if step % s.eval_every == 0 or step == s.steps:
            validate()
    if not (run_dir / "model").exists():
        validate()
    logger.close()
    if cfg.export_to:
        CharARTransformer.from_pretrained(run_dir / "model").save_pretrained(cfg.export_to)
        print(f"exported to {cfg.export_to}", flush=True)
    return run_dir / "model"


@hydra.main(version_base=None, config_path="configs", config_name="train_ar")
def main(cfg: DictConfig) -> None:
    train(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
