"""How much of a sampling step each policy costs next to the denoiser (a benchmark, not a test).

    python -m experiments.bench_policies [--batch 256] [--limit 256] [--denoiser weights/sudoku-mdm]
                                         [--threads N] [--temperature 0] [--policies a,b]

For every policy config at its default knobs, completes Sudoku puzzles from the validation file
with the frozen denoiser and times, per loop iteration (one batched denoiser call):
- denoiser: the forward pass (FrozenDenoiser.__call__, timed around it);
- policy: the policy's own work, `select` plus the token choice (Gumbel-max or argmax, timed by
  running `choose_tokens` again on the same logits with a separate generator, so the sample
  itself is untouched);
and prints mean NFE per puzzle, ms per iteration of each, and the policy's share of the two.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from denoiser import FrozenDenoiser, load_denoiser
from planner import Policy, load_policy, policy_names, sample
from planner.tokens import choose_tokens
from tasks.paths import REPO_ROOT, resolve_data_path
from tasks.sudoku import is_solved, load_sudoku_csv


class TimedDenoiser(FrozenDenoiser):
    def __init__(self, model):
        super().__init__(model)
        self.seconds = 0.0

    def __call__(self, tokens, return_hidden=False):
        start = time.perf_counter()
        out = super().__call__(tokens, return_hidden)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        return out


class TimedPolicy(Policy):
    """Delegates to a policy and adds up the time spent in its `select`."""

    def __init__(self, inner: Policy):
        self.inner, self.seconds = inner, 0.0
        self.needs_hidden = inner.needs_hidden

    def init_state(self, initial_masked, generator):
        return self.inner.init_state(initial_masked, generator)

    def select(self, ctx, state):
        start = time.perf_counter()
        selection = self.inner.select(ctx, state)
        if ctx.logits.is_cuda:
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        return selection


def bench(name: str, model, puzzles: torch.Tensor, temperature: float, seed: int) -> dict:
    policy = TimedPolicy(load_policy(name))
    frozen = TimedDenoiser(model)
    choice = {"seconds": 0.0, "iterations": 0}
    spare = torch.Generator().manual_seed(seed + 1)

    def time_token_choice(record):
        start = time.perf_counter()
        choose_tokens(record.ctx.logits, temperature, spare)
        choice["seconds"] += time.perf_counter() - start
        choice["iterations"] += 1

    start = time.perf_counter()
    result = sample(frozen, policy, puzzles, temperature=temperature,
                    generator=torch.Generator().manual_seed(seed), callbacks=[time_token_choice])
    wall = time.perf_counter() - start
    iters = max(choice["iterations"], 1)
    denoiser_ms = 1000 * frozen.seconds / iters
    policy_ms = 1000 * (policy.seconds + choice["seconds"]) / iters
    return {"policy": name, "nfe": float(result.nfe.float().mean()), "iterations": iters,
            "denoiser_ms": denoiser_ms, "policy_ms": policy_ms,
            "share": 100 * policy_ms / max(denoiser_ms + policy_ms, 1e-12),
            "solved": 100 * float(is_solved(result.tokens, puzzles).float().mean()),
            "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256, help="puzzles completed together")
    parser.add_argument("--limit", type=int, default=None, help="puzzles in all (default: --batch)")
    parser.add_argument("--denoiser", default="weights/sudoku-mdm")
    parser.add_argument("--data", default="sudoku/rrn_style_valid_18000.csv")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--policies", default=None, help="comma-separated config names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    limit = args.limit or args.batch
    source = Path(args.denoiser) if Path(args.denoiser).is_absolute() else REPO_ROOT / args.denoiser
    model = load_denoiser(source)
    data = load_sudoku_csv(resolve_data_path(args.data), limit=limit)
    names = args.policies.split(",") if args.policies else policy_names()
    print(f"denoiser: {source}\ndata: {data.path} ({len(data)} puzzles, batch {args.batch}), "
          f"threads {torch.get_num_threads()}, temperature {args.temperature}")

    header = (f"{'policy':<22}{'mean NFE':>9}{'iters':>7}{'denoiser ms/step':>18}"
              f"{'policy ms/step':>16}{'policy share %':>16}{'solved %':>10}")
    print(header + "\n" + "-" * len(header))
    for name in names:
        rows = []
        for start in range(0, len(data), args.batch):
            rows.append(bench(name, model, data.puzzles[start: start + args.batch],
                              args.temperature, args.seed))
        iters = sum(r["iterations"] for r in rows)
        den = sum(r["denoiser_ms"] * r["iterations"] for r in rows) / iters
        pol = sum(r["policy_ms"] * r["iterations"] for r in rows) / iters
        n = [len(data.puzzles[s: s + args.batch]) for s in range(0, len(data), args.batch)]
        nfe = sum(r["nfe"] * k for r, k in zip(rows, n)) / len(data)
        solved = sum(r["solved"] * k for r, k in zip(rows, n)) / len(data)
        print(f"{name:<22}{nfe:>9.2f}{iters:>7}{den:>18.3f}{pol:>16.3f}"
              f"{100 * pol / (den + pol):>16.1f}{solved:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
