"""Train the learned planner (the variational order model of docs/design.md section 3) with Pyro SVI,
the denoiser frozen.

    python -m experiments.train_planner                  # Sudoku, shipped denoiser
    python -m experiments.train_planner resume=true      # after a kill
    torchrun --standalone --nproc_per_node 2 -m experiments.train_planner   # data-parallel

Under torchrun every process holds the frozen denoiser and draws the same global batch; each
trains on its own shard and DistributedDataParallel averages the gradients
(`experiments/data_parallel.py`); rank 0 alone logs, validates, checkpoints and exports.

TensorBoard: train/elbo, train/kl, train/nfe (E_Q[K]), train/q_entropy, train/loss (the other
objectives of `vi/objectives/` log their own statistics, train/<name>), train/denoiser_calls
(the frozen denoiser's forward passes per sequence spent on training steps so far: the budget
`train.max_denoiser_calls` caps), train/grad_var (every train.grad_var_every steps), val/accuracy and val/nfe of sampling with
P_theta alone (also at step 0, the initialisation); for text, which has no right answer,
val/bits_per_char along P_theta's order instead of val/accuracy. Checkpoints `<run dir>/checkpoints/last.pt`
(atomic); the planner folder `<run dir>/planner` (config.json + model.safetensors), loadable by
`policy=learned`, and a copy at every validation, `<run dir>/snapshots/step_N`, for choosing a
step on validation afterwards.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import hydra
import pyro
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from planner import sample
from planner.order_likelihood import order_log_likelihood
from denoiser.checkpoint import load_folder, save_folder
from vi.checkpoint import load_planner, save_planner, save_posterior
from vi.diagnostics import gradient_variance
from vi.model import OrderModel
from vi.policy import LearnedPlanner

from .checkpointing import RunCheckpoint
from .run_folder import command, run_folder, settings_of
from .data_parallel import ShardedSVI
from .distributed import World
from .eval_source import guard_test_only
from .evaluation import frozen_for_task


# what may change when a run is resumed; any other setting that differs is refused
RESUMABLE = ("resume", "export_to", "train.threads", "train.steps")


def annealed(step: int, start: float, end: float, steps: int) -> float:
    return end if steps <= 0 else start + (end - start) * min(1.0, step / steps)


def validation_metrics(task, frozen, policy, val, seed: int = 0) -> dict[str, float]:
    """val/accuracy and val/nfe of sampling with the policy where the task has a right answer
    (`task.correct`); otherwise (text) val/bits_per_char, the NLL per generated character of
    the validation windows along the policy's own order (teacher forcing, docs/design.md section 4),
    and its val/nfe. seed: the generator of a sampling policy (the same draws at every
    validation)."""
    generator = torch.Generator().manual_seed(seed)
    if hasattr(task, "correct"):
        result = sample(frozen, policy, val.prompts, generator=generator)
        correct = task.correct(result.tokens, val.prompts, val.references)
        return {"val/accuracy": float(correct.float().mean()),
                "val/nfe": float(result.nfe.float().mean())}
    generate = val.prompts == task.mask_id
    out = order_log_likelihood(frozen, policy, val.references, generate, generator=generator)
    nats = float((-out.log_likelihood).sum() / out.n_generated.sum())
    return {"val/bits_per_char": nats / math.log(2), "val/nfe": float(out.nfe.float().mean())}


def check_family(elbo, spec) -> None:
    """An objective that needs a subset family (LO-ARM: one position per step) refuses a
    planner config of another one."""
    need = getattr(elbo, "family", None)
    if need is not None and need != spec.family:
        raise ValueError(f"the estimator {type(elbo).__name__} trains the {need!r} subset family, "
                         f"but the planner config has family={spec.family!r}: add "
                         f"planner.family={need} (on Sudoku: planner=sudoku_factor_singleton)")


def training_scalars(stats: dict[str, float]) -> dict[str, float]:
    """The estimator's statistics as train/ scalars; the VI estimators' under their names of
    old (train/nfe is E_Q[K]), with train/elbo = log-likelihood - KL."""
    renamed = {"steps": "nfe"}
    out = {f"train/{renamed.get(k, k)}": v for k, v in stats.items()}
    if "log_likelihood" in stats and "kl" in stats:
        out["train/elbo"] = stats["log_likelihood"] - stats["kl"]
    return out


def progress_line(stats: dict[str, float]) -> str:
    if {"log_likelihood", "kl", "steps"} <= set(stats):
        return (f"elbo {stats['log_likelihood'] - stats['kl']:.3f} loglik "
                f"{stats['log_likelihood']:.3f} kl {stats['kl']:.3f} E_Q[K] {stats['steps']:.2f}")
    return " ".join(f"{k} {v:.3f}" for k, v in sorted(stats.items()))


def train(cfg: DictConfig, run_dir: Path) -> Path:
    s = instantiate(cfg.train)
    if s.threads:
        torch.set_num_threads(s.threads)
    world = World.from_env(s.backend)
    run_dir = Path(world.broadcast(str(run_dir)))     # rank 0's folder holds the checkpoints
    task = instantiate(cfg.task)
    frozen = frozen_for_task(instantiate(cfg.denoiser), task)
    frozen.bf16 = frozen.bf16 or s.denoiser_bf16
    weights_before = frozen.fingerprint()
    spec = instantiate(cfg.planner)
    pyro.clear_param_store()
    pyro.set_rng_seed(cfg.seed)
    elbo = s.estimator
    check_family(elbo, spec)
    prior, posterior, net_kwargs = spec.build(frozen, task.structure)
    prior.check_denoiser(frozen)         # a frozen input model (correctness_path) must be this denoiser's
    order = OrderModel(frozen, prior, posterior)
    optim = pyro.optim.ClippedAdam({"lr": s.lr, "clip_norm": s.clip_norm})
    trains_posterior = getattr(elbo, "trains_posterior", True)
    svi = ShardedSVI(order, elbo, optim, world, s.shards, cfg.seed)
    data_gen = torch.Generator().manual_seed(cfg.seed)
    guard_test_only(cfg.val_path, cfg, "val_path")    # selection never on test-only data
    val = task.load_eval(cfg.val_path, s.val_limit, "spread")

    checkpoint = RunCheckpoint(run_dir, settings_of(cfg, RESUMABLE),
                               command("experiments.train_planner"))
    step, saved = checkpoint.restore(cfg.resume, data_gen)
    calls = int(saved.get("denoiser_calls", 0)) if saved else 0   # spent on training steps
    if saved:
        prior.load_state_dict(saved["prior"])
        posterior.load_state_dict(saved["posterior"])
        optim.set_state(saved["optimizer"])
        svi.set_rng_state(saved.get("shard_rng", {}))
    logger = (instantiate(cfg.logger)(run_dir=run_dir, purge_step=step + 1 if step else None)
              if world.is_main else None)
    n_params = sum(p.numel() for p in prior.parameters())
    if world.is_main:
        print(f"training a {n_params:,}-parameter planner"
              f"{' (and its posterior)' if trains_posterior else ''} with "
              f"{type(elbo).__name__} for {s.steps} steps, batch {s.batch_size} in "
              f"{svi.shards} shard(s) over {world.size} process(es), beta in "
              f"[{s.beta_min}, {s.beta_max}], in {run_dir}", flush=True)

    def save_checkpoint():
        shard_rng = svi.rng_state()                   # collective: every rank takes part
        if world.is_main:
            checkpoint.save(step, data_gen, {"prior": prior.state_dict(),
                                             "posterior": posterior.state_dict(),
                                             "optimizer": optim.get_state(),
                                             "shard_rng": shard_rng,
                                             "denoiser_calls": calls})
        world.barrier()

    def export(folder: str = "planner"):
        trained = {"trained": {"steps": step, "task": task.name,
                               "command": checkpoint.commands[-1],
                               "commands": checkpoint.commands}}
        save_planner(run_dir / folder, prior, net_kwargs, frozen, extra=trained)
        if not trains_posterior:       # an objective without Q_phi (vi/objectives/) ships none
            return
        # the posterior beside it, an oracle for the posterior-to-prior gap (experiments.oracle)
        save_posterior(run_dir / folder / "posterior", posterior, net_kwargs, frozen, extra=trained)

    def validate():
        prior.eval()
        metrics = validation_metrics(task, frozen, LearnedPlanner(
            prior, beta=s.val_beta, sample=s.val_mode == "sample"), val)
        prior.train()
        logger.scalars(metrics, step)
        print(f"step {step}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)
        export()
        export(f"snapshots/step_{step:06d}")     # for choosing a step on validation afterwards

    givens = None if s.givens_min is None else (s.givens_min, s.givens_max)
    log_lo, log_hi = math.log(s.beta_min), math.log(s.beta_max)
    t0, done_at_start = time.time(), step
    if step == 0:
        if world.is_main:
            validate()
        world.barrier()
    def budget_left() -> bool:
        return s.max_denoiser_calls is None or calls < s.max_denoiser_calls

    while step < s.steps and budget_left():
        x, masked = task.planner_batch(s.batch_size, data_gen, givens)
        beta = torch.exp(log_lo + (log_hi - log_lo) * torch.rand(s.batch_size, generator=data_gen))
        kwargs = {"beta": beta, "kl_scale": annealed(step, s.kl_start, 1.0, s.kl_anneal),
                  "entropy_weight": annealed(step, s.entropy_start, 0.0, s.entropy_anneal)}
        calls_before = frozen.calls
        loss = svi.step(x, masked, **kwargs)
        calls += world.sum(torch.tensor([float(frozen.calls - calls_before)]))[0].long().item()
        step += 1
        last = step == s.steps or not budget_left()
        if world.is_main and (step % s.log_every == 0 or last):
            st = svi.last_stats
            rate = (step - done_at_start) / (time.time() - t0)
            logger.scalars({"train/loss": loss / s.batch_size, **training_scalars(st),
                            "train/kl_scale": kwargs["kl_scale"],
                            "train/entropy_weight": kwargs["entropy_weight"],
                            "train/denoiser_calls": calls,
                            "train/steps_per_second": rate}, step)
            print(f"step {step}/{s.steps} {progress_line(st)} calls {calls:,} "
                  f"{rate:.2f} steps/s eta {(s.steps - step) / max(rate, 1e-9) / 60:.1f} min",
                  flush=True)
        if world.is_main and step % s.grad_var_every == 0:
            # on shard 0 (the whole batch when unsharded), from its random stream
            params = [p for p in pyro.get_param_store().values() if p.requires_grad]
            var = gradient_variance(elbo, order.model, order.guide, params,
                                    *svi.shard(0, x, masked, kwargs), n=s.grad_var_draws)
            logger.scalars({"train/grad_var": var}, step)
        if step % s.ckpt_every == 0 or last:
            save_checkpoint()
        if step % s.eval_every == 0 or last:
            if world.is_main:
                validate()
            world.barrier()
    if world.is_main:
        if not (run_dir / "planner").exists():
            validate()
        logger.close()
    if frozen.fingerprint() != weights_before:
        raise RuntimeError("the denoiser's weights changed during planner training")
    if cfg.export_to and world.is_main:
        load_planner(run_dir / "planner", frozen)          # refuses a mismatched export
        save_folder(cfg.export_to, *load_folder(run_dir / "planner"))
        if (run_dir / "planner" / "posterior").is_dir():     # the oracle, beside the prior
            save_folder(Path(cfg.export_to) / "posterior",
                        *load_folder(run_dir / "planner" / "posterior"))
        print(f"exported to {cfg.export_to}", flush=True)
    world.barrier()
    world.close()
    return run_dir / "planner"


@hydra.main(version_base=None, config_path="configs", config_name="train_planner")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("checkpoints/last.pt", "planner")) as run_dir:
        train(cfg, run_dir)


if __name__ == "__main__":
    main()
