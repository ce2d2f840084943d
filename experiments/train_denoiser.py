"""Train an MDM denoiser with the masked-diffusion objective.

    python -m experiments.train_denoiser task=sudoku
    python -m experiments.train_denoiser task=sudoku resume=true     # after a kill
    python -m experiments.train_denoiser task=sudoku objective=self_correct \
        init_from=weights/sudoku-mdm ...                                # fine-tune a shipped one

`objective` (a config group): `masked` (the masked-diffusion ELBO), `self_correct`
(`denoiser.verify_objective`: it also trains the outputs at filled positions, so the model
scores committed tokens) or `genmd4` (`denoiser.genmd4`: a learned per-token-value masking
schedule, with `denoiser.schedule=learned`; val/loss is then its own bound). `init_from`: a model folder whose weights a fresh run starts from
(its shape must be the config's); a resumed run ignores it (its checkpoint holds the weights).

Checkpoints go to `<run dir>/checkpoints/last.pt` (written atomically every
`train.ckpt_every` steps) and the model folder to `<run dir>/model`; TensorBoard curves
`train/loss`, `val/loss`, `val/accuracy` to `<run dir>/tb`.
"""
from __future__ import annotations

from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from denoiser import Denoiser, FrozenDenoiser, MDMTransformer, load_denoiser, masked_diffusion_loss
from denoiser.objective import MaskedDiffusionObjective

from .run_folder import run_folder
from .eval_source import guard_test_only
from .fit import fit, setup


@torch.no_grad()
def validation_loss(model, task, n: int, seed: int) -> float:
    """The objective on a fixed set of clean sequences with fixed masks (same every time)."""
    g = torch.Generator().manual_seed(seed)
    x0 = task.train_batch(n, g) if not hasattr(task, "val_sequences") else task.val_sequences(n)
    model.eval()
    loss, _ = masked_diffusion_loss(model, x0, torch.Generator().manual_seed(seed + 1))
    model.train()
    return loss.item()


@torch.no_grad()
def objective_metrics(objective, model, task, n: int, seed: int) -> dict[str, float]:
    """The objective's filled-position metrics on fixed validation sequences and draws."""
    g = torch.Generator().manual_seed(seed)
    x0 = task.train_batch(n, g) if not hasattr(task, "val_sequences") else task.val_sequences(n)
    _, metrics = objective(model, x0, torch.Generator().manual_seed(seed + 1))
    return {k: v for k, v in metrics.items()
            if k in ("filled_loss", "wrong_fill_fixed", "nelbo", "power_min", "power_mean", "power_max")}


def start_from(model, folder) -> None:
    """Load the weights of the model folder `folder` into `model` (a fine-tune's start)."""
    source = load_denoiser(folder)
    state = source.state_dict()
    # a GenMD4 fine-tune of a linear-schedule model starts its schedule at MD4's (w = 1)
    fresh = [k for k in ("schedule_w",) if k in model.state_dict() and k not in state]
    state.update({k: model.state_dict()[k] for k in fresh})
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"init_from={folder!r}: its weights do not fit the configured "
                         f"denoiser ({e})") from None
    print(f"starting from the weights of {folder}"
          + (f" ({', '.join(fresh)} newly initialised)" if fresh else ""), flush=True)


def train(cfg: DictConfig, run_dir: Path) -> Path:
    s, task = setup(cfg)
    if hasattr(task, "val_path"):       # validation (model selection) never on test-only data
        guard_test_only(task.val_path, cfg, "task.val_path")
    # the denoiser config gives an MDMConfig (the project's transformer) or builds a Denoiser
    # itself (a Hugging Face model wrapped by HFMaskedDenoiser); the task fills in its shape
    built = instantiate(cfg.denoiser, vocab_size=task.vocab_size, mask_id=task.mask_id,
                        max_length=task.length, structure=task.structure,
                        vocabulary=getattr(task, "vocabulary", None))
    model = built if isinstance(built, Denoiser) else MDMTransformer(built)
    if cfg.get("init_from") and not (cfg.resume and (run_dir / "checkpoints" / "last.pt").exists()):
        start_from(model, cfg.init_from)
    objective = instantiate(cfg.objective)
    plain = isinstance(objective, MaskedDiffusionObjective)

    def batch_loss(x0, generator):
        loss, metrics = objective(model, x0, generator)
        if plain:
            return loss, {"token_accuracy": metrics["token_accuracy"]}
        return loss, {k: v for k, v in metrics.items() if k != "t_mean"}

    def val_metrics():
        model.eval()
        metrics = {"loss": validation_loss(model, task, s.val_grids, cfg.seed + 12345),
                   **task.validation_metrics(FrozenDenoiser(model))}
        if not plain:       # the objective's own metrics (filled positions, its bound), fixed draws
            metrics.update(objective_metrics(objective, model, task, s.val_grids, cfg.seed + 54321))
            if getattr(objective, "bound_metric", None):   # GenMD4: val/loss is its own bound
                metrics["loss"] = metrics[objective.bound_metric]
        for p in model.parameters():      # FrozenDenoiser froze them; training goes on
            p.requires_grad_(True)
        return metrics

    return fit(cfg, run_dir, s, task, model, "a denoiser", batch_loss, val_metrics,
               module="experiments.train_denoiser", load=load_denoiser)


@hydra.main(version_base=None, config_path="configs", config_name="train_denoiser")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("checkpoints/last.pt", "model")) as run_dir:
        train(cfg, run_dir)


if __name__ == "__main__":
    main()
