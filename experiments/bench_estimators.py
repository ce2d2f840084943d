"""The planner-training estimators side by side (a section of `python -m experiments.bench`).

On the frozen denoiser and one fixed batch of the task's planner-training states, prints for
each estimator: the total gradient variance over all planner parameters (prior and
posterior; `draws` independent gradient estimates on the same batch), the mean loss, and the
training throughput (SVI steps and sequences per second). The networks start from a trained
planner's prior when `planner` names one (the posterior has its network shape), else from a
fresh initialisation with a randomised output layer; the posterior's output layer is
randomised too, so that P and Q differ, as they do in training.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import pyro
import torch
from pyro.infer import SVI

from tasks.paths import REPO_ROOT
from vi.checkpoint import load_planner
from vi.diagnostics import gradient_variance
from vi.estimators import OneStepLOO_ELBO, RaoBlackwellLOO_ELBO, reference_elbo
from vi.model import OrderModel
from vi.networks import PosteriorNet
from vi.spec import PlannerSpec


@dataclass
class EstimatorBench:
    """batch: planner-training sequences; particles per estimator; draws: gradient estimates
    for the variance; steps: timed SVI steps (lr 0, so every step sees the same networks);
    beta: the price per call; planner: a planner folder to start from (None: fresh)."""

    batch: int = 8
    particles: int = 2
    draws: int = 4
    steps: int = 2
    beta: float = 0.3
    planner: str | None = "weights/sudoku-planner"

    def __post_init__(self):
        for name in ("batch", "particles", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"estimators.{name} must be >= 1, got {getattr(self, name)}")
        if self.draws < 2:
            raise ValueError(f"estimators.draws must be >= 2 to estimate a variance, got {self.draws}")

    def networks(self, frozen, structure: str):
        """Prior and posterior: the trained planner's network (as its config.json records it)
        and a posterior of the same shape, or both fresh from the default `PlannerSpec`."""
        if self.planner is not None:
            prior, config = load_planner(REPO_ROOT / self.planner, frozen)
            prior.train()
            posterior = PosteriorNet(**config["prior"])
        else:
            prior, posterior, _ = PlannerSpec().build(frozen, structure)
            torch.nn.init.normal_(prior.head.weight, std=0.5)
        torch.nn.init.normal_(posterior.head.weight, std=0.5)
        return prior, posterior

    def run(self, task, frozen, seed: int = 0) -> list[dict]:
        x, masked = task.planner_batch(self.batch, torch.Generator().manual_seed(seed))
        kwargs = {"beta": self.beta}
        estimators = {
            "TraceGraph_ELBO + decaying-avg baseline": (reference_elbo(self.particles),
                                                        {"use_decaying_avg_baseline": True}),
            "RaoBlackwellLOO_ELBO": (RaoBlackwellLOO_ELBO(self.particles), None),
            "OneStepLOO_ELBO": (OneStepLOO_ELBO(self.particles), None),
        }
        print(f"batch {self.batch}, {self.particles} particles, beta {self.beta}, "
              f"{self.draws} gradient draws, planner {self.planner or 'fresh'}")
        header = f"{'estimator':<42}{'grad variance':>15}{'loss/seq':>10}{'SVI steps/s':>13}{'seq/s':>8}"
        print(header + "\n" + "-" * len(header))
        rows = []
        for name, (elbo, baseline) in estimators.items():
            pyro.clear_param_store()
            pyro.set_rng_seed(seed)
            prior, posterior = self.networks(frozen, task.structure)
            order = OrderModel(frozen, prior, posterior, baseline=baseline)
            pyro.module("prior", prior)
            pyro.module("posterior", posterior)
            params = list(prior.parameters()) + list(posterior.parameters())
            var = gradient_variance(elbo, order.model, order.guide, params, (x, masked), kwargs,
                                    n=self.draws)
            svi = SVI(order.model, order.guide, pyro.optim.Adam({"lr": 0.0}), loss=elbo)
            start = time.perf_counter()
            losses = [svi.step(x, masked, **kwargs) for _ in range(self.steps)]
            rate = self.steps / (time.perf_counter() - start)
            row = {"estimator": name, "grad_variance": var,
                   "loss_per_sequence": sum(losses) / len(losses) / self.batch,
                   "svi_steps_per_s": rate, "sequences_per_s": rate * self.batch}
            rows.append(row)
            print(f"{name:<42}{var:>15.4g}{row['loss_per_sequence']:>10.2f}"
                  f"{rate:>13.3f}{row['sequences_per_s']:>8.1f}", flush=True)
        return rows
