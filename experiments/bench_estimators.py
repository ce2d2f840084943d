"""The planner-training estimators side by side (a benchmark, not a test).

    python -m experiments.bench_estimators [--batch 16] [--particles 2] [--draws 6]
                                           [--planner weights/sudoku-planner]

On the shipped Sudoku denoiser and one fixed batch of planner-training states, prints for
each estimator: the total gradient variance over all planner parameters (prior and
posterior; `--draws` independent gradient estimates on the same batch), the mean loss, and the
training throughput (SVI steps and sequences per second). The networks start from the shipped
planner's prior when it exists (its weights also seed the posterior), else from a fresh
initialisation with a randomised output layer; the posterior's output layer is randomised
too, so that P and Q differ, as they do in training.
"""
from __future__ import annotations

import argparse
import time

import pyro
import torch
from pyro.infer import SVI

from denoiser import FrozenDenoiser, MDMTransformer
from tasks.paths import REPO_ROOT
from tasks.sudoku import SudokuTask
from vi.diagnostics import gradient_variance
from vi.estimators import OneStepLOO_ELBO, RaoBlackwellLOO_ELBO, reference_elbo
from vi.model import OrderModel
from vi.spec import PlannerSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--particles", type=int, default=2)
    parser.add_argument("--draws", type=int, default=6)
    parser.add_argument("--steps", type=int, default=3, help="timed SVI steps per estimator")
    parser.add_argument("--beta", type=float, default=0.3)
    parser.add_argument("--denoiser", default="weights/sudoku-mdm")
    parser.add_argument("--planner", default="weights/sudoku-planner")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    frozen = FrozenDenoiser(MDMTransformer.from_pretrained(REPO_ROOT / args.denoiser))
    task = SudokuTask(pool_size=200, seed=args.seed)
    g = torch.Generator().manual_seed(args.seed)
    x, masked = task.planner_batch(args.batch, g)
    kwargs = {"beta": args.beta}

    estimators = {
        "TraceGraph_ELBO + decaying-avg baseline": (reference_elbo(args.particles),
                                                    {"use_decaying_avg_baseline": True}),
        "RaoBlackwellLOO_ELBO": (RaoBlackwellLOO_ELBO(args.particles), None),
        "OneStepLOO_ELBO": (OneStepLOO_ELBO(args.particles), None),
    }
    print(f"batch {args.batch}, {args.particles} particles, beta {args.beta}, "
          f"{args.draws} gradient draws, threads {torch.get_num_threads()}")
    header = f"{'estimator':<42}{'grad variance':>15}{'loss/seq':>10}{'SVI steps/s':>13}{'seq/s':>8}"
    print(header + "\n" + "-" * len(header))
    for name, (elbo, baseline) in estimators.items():
        pyro.clear_param_store()
        pyro.set_rng_seed(args.seed)
        prior, posterior, _ = PlannerSpec().build(frozen, task.structure)
        planner_dir = REPO_ROOT / args.planner
        if (planner_dir / "model.safetensors").exists():
            from vi.checkpoint import load_planner
            trained, _ = load_planner(planner_dir, frozen)
            prior.load_state_dict(trained.state_dict())
        else:
            torch.nn.init.normal_(prior.head.weight, std=0.5)
        torch.nn.init.normal_(posterior.head.weight, std=0.5)
        order = OrderModel(frozen, prior, posterior, baseline=baseline)
        pyro.module("prior", prior)
        pyro.module("posterior", posterior)
        params = list(prior.parameters()) + list(posterior.parameters())
        var = gradient_variance(elbo, order.model, order.guide, params, (x, masked), kwargs,
                                n=args.draws)
        svi = SVI(order.model, order.guide, pyro.optim.Adam({"lr": 0.0}), loss=elbo)
        start = time.perf_counter()
        losses = [svi.step(x, masked, **kwargs) for _ in range(args.steps)]
        rate = args.steps / (time.perf_counter() - start)
        print(f"{name:<42}{var:>15.4g}{sum(losses) / len(losses) / args.batch:>10.2f}"
              f"{rate:>13.3f}{rate * args.batch:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
