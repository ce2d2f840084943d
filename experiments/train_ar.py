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
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig

from tasks.text.ar_model import CharARTransformer

from .run_folder import run_folder
from .fit import fit, setup


@torch.no_grad()
def validation_nll(model: CharARTransformer, task, n: int) -> float:
    """Mean NLL per character (nats) on `n` fixed validation windows."""
    model.eval()
    x = task.val_sequences(n)
    nll = torch.cat([model.nll(x[i:i + 128]) for i in range(0, n, 128)])
    model.train()
    return float(nll.mean())


def train(cfg: DictConfig, run_dir: Path) -> Path:
    s, task = setup(cfg)
    model = CharARTransformer(instantiate(cfg.model, vocabulary=task.vocabulary,
                                          max_length=task.length))

    def batch_loss(x, generator):
        logits = model(x).float()
        with torch.autocast("cpu", enabled=False):      # the loss in float32
            return F.cross_entropy(logits.transpose(1, 2), x), {}

    def val_metrics():
        nll = validation_nll(model, task, s.val_grids)
        return {"loss": nll, "bits_per_char": nll / math.log(2)}

    return fit(cfg, run_dir, s, task, model, "an autoregressive scorer", batch_loss, val_metrics,
               module="experiments.train_ar", load=CharARTransformer.from_pretrained)


@hydra.main(version_base=None, config_path="configs", config_name="train_ar")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("checkpoints/last.pt", "model")) as run_dir:
        train(cfg, run_dir)


if __name__ == "__main__":
    main()
