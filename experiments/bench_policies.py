"""How fast each policy completes sequences, and how much of a sampling step it costs next to
the denoiser (a section of `python -m experiments.bench`).

For every policy config at its default knobs, completes the task's evaluation prompts with the
frozen denoiser and times, per loop iteration (one batched denoiser call):
- denoiser: the forward pass (FrozenDenoiser.__call__, timed around it);
- policy: the policy's own work, `select` plus the token choice (Gumbel-max or argmax, timed by
  running `choose_tokens` again on the same logits with a separate generator, so the sample
  itself is untouched);
and prints sequences per second, mean NFE per sequence, ms per iteration of each, and the
policy's share of the two.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from denoiser import FrozenDenoiser
from planner import Policy, load_policy, policy_names, sample
from planner.tokens import choose_tokens

from .eval_source import guard_test_only


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
        # a remasking policy's loop contract travels with it (its bound, its revisions)
        self.revises, self.allows_empty_steps = inner.revises, inner.allows_empty_steps
        self.max_nfe = inner.max_nfe

    def check_max_nfe(self, max_nfe: int) -> None:
        self.inner.check_max_nfe(max_nfe)

    def init_state(self, initial_masked, generator):
        return self.inner.init_state(initial_masked, generator)

    def check_denoiser(self, denoiser) -> None:
        self.inner.check_denoiser(denoiser)

    def select(self, ctx, state):
        start = time.perf_counter()
        selection = self.inner.select(ctx, state)
        if ctx.logits.is_cuda:
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - start
        return selection


@dataclass
class Timing:
    """One timed `planner.sample` call. tokens: `[batch, length]` the completions."""

    tokens: torch.Tensor
    nfe: float              # mean denoiser calls per sequence
    iterations: int         # loop iterations (batched denoiser calls)
    denoiser_s: float
    policy_s: float
    wall_s: float

    @property
    def sequences(self) -> int:
        return self.tokens.shape[0]


def time_sampling(policy: Policy, model, prompts: torch.Tensor, temperature: float = 0.0,
                  seed: int = 0) -> Timing:
    """Complete `prompts` `[batch, length]` with `policy` on the frozen `model`, timed."""
    timed = TimedPolicy(policy)
    frozen = TimedDenoiser(model)
    choice = {"seconds": 0.0, "iterations": 0}
    spare = torch.Generator().manual_seed(seed + 1)

    def time_token_choice(record):
        start = time.perf_counter()
        choose_tokens(record.ctx.logits, temperature, spare)
        choice["seconds"] += time.perf_counter() - start
        choice["iterations"] += 1

    start = time.perf_counter()
    result = sample(frozen, timed, prompts, temperature=temperature,
                    generator=torch.Generator().manual_seed(seed), callbacks=[time_token_choice])
    wall = time.perf_counter() - start
    return Timing(tokens=result.tokens, nfe=float(result.nfe.float().mean()),
                  iterations=choice["iterations"], denoiser_s=frozen.seconds,
                  policy_s=timed.seconds + choice["seconds"], wall_s=wall)


def ms_per_iteration(runs: list[Timing]) -> tuple[float, float]:
    """(denoiser, policy) ms per loop iteration over several timed runs."""
    iters = max(sum(r.iterations for r in runs), 1)
    return (1000 * sum(r.denoiser_s for r in runs) / iters,
            1000 * sum(r.policy_s for r in runs) / iters)


@dataclass
class PolicyBench:
    """names: policy configs (None: every one) at their default knobs. data: the task's
    evaluation data (a CSV for Sudoku, a split name for generated tasks); limit: prompts in
    all (None: one batch); batch: prompts completed together."""

    names: list[str] | None = None
    data: str = "sudoku/rrn_style_valid_18000.csv"
    limit: int | None = None
    batch: int = 32
    temperature: float = 0.0

    def __post_init__(self):
        if self.batch < 1 or (self.limit is not None and self.limit < 1):
            raise ValueError(f"policies.batch and policies.limit must be >= 1, got "
                             f"{self.batch}, {self.limit}")

    def run(self, task, model, seed: int = 0) -> list[dict]:
        guard_test_only(self.data, {}, "policies.data")   # timing runs never need test data
        data = task.load_eval(self.data, self.limit or self.batch)
        names = self.names or policy_names()
        print(f"data: {data.source} ({len(data)} prompts, batch {self.batch}), temperature "
              f"{self.temperature}")
        header = (f"{'policy':<22}{'seq/s':>8}{'mean NFE':>9}{'iters':>7}{'denoiser ms/step':>18}"
                  f"{'policy ms/step':>16}{'policy share %':>16}{'correct %':>11}")
        print(header + "\n" + "-" * len(header))
        rows = []
        for name in names:
            policy = load_policy(name)
            runs = [time_sampling(policy, model, data.prompts[s: s + self.batch],
                                  self.temperature, seed)
                    for s in range(0, len(data), self.batch)]
            tokens = torch.cat([r.tokens for r in runs])
            correct = 100 * float(task.correct(tokens, data.prompts, data.references).float().mean())
            den, pol = ms_per_iteration(runs)
            row = {"policy": name, "sequences_per_s": len(data) / sum(r.wall_s for r in runs),
                   "nfe": sum(r.nfe * r.sequences for r in runs) / len(data),
                   "iterations": sum(r.iterations for r in runs), "denoiser_ms": den,
                   "policy_ms": pol, "share": 100 * pol / max(den + pol, 1e-12),
                   "correct": correct}
            rows.append(row)
            print(f"{name:<22}{row['sequences_per_s']:>8.1f}{row['nfe']:>9.2f}"
                  f"{row['iterations']:>7}{den:>18.3f}{pol:>16.3f}{row['share']:>16.1f}"
                  f"{correct:>11.1f}", flush=True)
        return rows
