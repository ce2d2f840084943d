"""The planner-training objectives side by side (issue 17; a section of `python -m
experiments.bench`, `sections=[objectives]`): VI (the shipped estimator), GRPO, oracle
imitation and LO-ARM, each from the same network state (the shipped VI planner's prior; for
LO-ARM the same weights read as a categorical, `family="singleton"`) on the same fixed batch
of training puzzles at the same price.

Per objective it prints the total variance of the prior's gradient (the sum over every prior
parameter of the variance of `draws` independent estimates on that batch), the same relative
to the squared norm of their mean (scale-free: the objectives' gradients differ in scale, GRPO's
advantages being normalised), the total variance over everything it trains (VI and LO-ARM
train the posterior too), the training throughput (puzzles per second over
`steps` timed SVI steps at lr 0, so every step sees the same networks) and the denoiser calls
per puzzle of one step. The figures are wall-clock on whatever else the machine runs; read
them side by side, never as a test.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import pyro
import torch
from hydra.utils import instantiate
from pyro.infer import SVI

from tasks.paths import REPO_ROOT
from vi.checkpoint import load_planner
from vi.diagnostics import gradient_draws, gradient_variance
from vi.model import OrderModel
from vi.networks import PosteriorNet, PriorNet

# the objectives as the train configs build them (experiments/configs/train/)
OBJECTIVES = {
    "VI (RaoBlackwellLOO_ELBO, 2 particles)": ({"_target_": "vi.estimators.RaoBlackwellLOO_ELBO",
                                                "num_particles": 2}, "bernoulli"),
    "GRPO (group 8)": ({"_target_": "vi.objectives.GRPO", "group": 8}, "bernoulli"),
    "oracle imitation": ({"_target_": "vi.objectives.OracleImitation", "oracle_threshold": 0.5},
                         "bernoulli"),
    "LO-ARM (RB+LOO on singletons, 2 particles)": ({"_target_": "vi.objectives.LOARM_ELBO",
                                                    "num_particles": 2}, "singleton"),
}


@dataclass
class ObjectiveBench:
    """batch: training puzzles; draws: gradient estimates for the variance; steps: timed SVI
    steps; beta: the price per call; planner: the planner folder every objective starts from;
    names: the objectives to run (keys of OBJECTIVES; None: all)."""

    batch: int = 8
    draws: int = 4
    steps: int = 2
    beta: float = 0.02
    planner: str = "weights/sudoku-planner"
    names: list | None = None

    def __post_init__(self):
        for name in ("batch", "steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"objectives.{name} must be >= 1, got {getattr(self, name)}")
        if self.draws < 2:
            raise ValueError(f"objectives.draws must be >= 2 to estimate a variance, got {self.draws}")
        unknown = sorted(set(self.names or ()) - set(OBJECTIVES))
        if unknown:
            raise ValueError(f"unknown objectives {unknown}; expected some of {list(OBJECTIVES)}")

    def networks(self, frozen, family: str):
        trained, config = load_planner(REPO_ROOT / self.planner, frozen)
        kwargs = {**config["prior"], "family": family}
        prior, posterior = PriorNet(**kwargs), PosteriorNet(**kwargs)
        prior.load_state_dict(trained.state_dict())
        torch.nn.init.normal_(posterior.head.weight, std=0.5)   # P and Q differ, as in training
        return prior.train(), posterior

    def run(self, task, frozen, seed: int = 0) -> list[dict]:
        x, masked = task.planner_batch(self.batch, torch.Generator().manual_seed(seed))
        kwargs = {"beta": torch.full((self.batch,), self.beta)}
        print(f"batch {self.batch} puzzles, beta {self.beta}, {self.draws} gradient draws, "
              f"{self.steps} timed steps, from {self.planner}")
        header = (f"{'objective':<44}{'grad var (prior)':>17}{'relative':>10}{'grad var (all)':>16}"
                  f"{'puzzles/s':>11}{'calls/puzzle':>14}")
        print(header + "\n" + "-" * len(header))
        rows = []
        for name, (target, family) in OBJECTIVES.items():
            if self.names and name not in self.names:
                continue
            pyro.clear_param_store()
            pyro.set_rng_seed(seed)
            objective = instantiate(target)
            prior, posterior = self.networks(frozen, family)
            order = OrderModel(frozen, prior, posterior)
            pyro.module("prior", prior)
            pyro.module("posterior", posterior)
            prior_params = list(prior.parameters())
            everything = prior_params + list(posterior.parameters())
            draws = gradient_draws(objective, order.model, order.guide, prior_params,
                                   (x, masked), kwargs, n=self.draws)
            var_prior = float(draws.var(0).sum())
            relative = var_prior / max(float(draws.mean(0).square().sum()), 1e-30)
            var_all = (gradient_variance(objective, order.model, order.guide, everything,
                                         (x, masked), kwargs, n=self.draws)
                       if getattr(objective, "trains_posterior", True) else var_prior)
            svi = SVI(order.model, order.guide, pyro.optim.Adam({"lr": 0.0}), loss=objective)
            calls_before, start = frozen.calls, time.perf_counter()
            for _ in range(self.steps):
                svi.step(x, masked, **kwargs)
            seconds = time.perf_counter() - start
            row = {"objective": name, "grad_variance_prior": var_prior,
                   "relative_variance_prior": relative, "grad_variance_all": var_all,
                   "puzzles_per_s": self.steps * self.batch / seconds,
                   "calls_per_puzzle": (frozen.calls - calls_before) / (self.steps * self.batch)}
            rows.append(row)
            print(f"{name:<44}{var_prior:>17.4g}{relative:>10.3g}{var_all:>16.4g}{row['puzzles_per_s']:>11.2f}"
                  f"{row['calls_per_puzzle']:>14.1f}", flush=True)
        return rows
