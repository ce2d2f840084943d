"""One SVI step of the planner over a global batch cut into shards, data-parallel over the
processes of a `World` (DistributedDataParallel under torchrun).

The global batch of B sequences is cut into S equal contiguous shards (`train.shards`, by
default one per process). Process r of W runs its S/W shards one after another, each
through the estimator's `differentiable_loss`, accumulating gradients; the model is wrapped
in `DistributedDataParallel`, which averages the gradients over the processes in the last
shard's backward pass. Each process scales its loss by W, so the average is the plain sum
over all S shards: the gradient of the batch-summed loss, as single-process training has it.
Then every process takes the same Pyro optimizer step on the same gradients, and the
parameters stay identical everywhere. The frozen denoiser is not a parameter: every process
holds its own copy.

Randomness: the estimator's draws (the guide's subsets) come from torch's global generator.
Shard j draws from its own stream (shard 0: the global generator itself; shard j > 0: a
generator seeded by (seed, j)), swapped in around its forward and backward passes. So the
result depends on the global batch and S only, not on how many processes share the shards:
`torchrun --nproc_per_node 2` gives the parameters of one process with `train.shards=2`
(tests/test_train_planner_ddp.py). One process with S = 1 runs `SVI.step` itself.
"""
from __future__ import annotations

import contextlib

import torch
from pyro import poutine
from pyro.infer import SVI
from pyro.infer.util import zero_grads
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .distributed import World

SHARD_SEED_STRIDE = 1_000_003   # shard j > 0 of a run seeded s starts at seed s + j * stride


class EstimatorLoss(nn.Module):
    """The trained networks (prior and posterior) as one module whose forward is the
    estimator's differentiable loss on a batch: what DistributedDataParallel wraps."""

    def __init__(self, order, elbo):
        super().__init__()
        if not hasattr(elbo, "differentiable_loss"):
            raise TypeError(f"sharded or distributed training needs an estimator with "
                            f"differentiable_loss (e.g. RaoBlackwellLOO_ELBO), got "
                            f"{type(elbo).__name__}")
        self.prior, self.posterior = order.prior, order.posterior
        self.programs = (order.model, order.guide)   # bound methods: the denoiser is no submodule
        self.elbo = elbo

    def forward(self, x: torch.Tensor, masked: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.elbo.differentiable_loss(*self.programs, x, masked, **kwargs)


class ShardStreams:
    """One torch RNG stream per shard (see the module docstring)."""

    def __init__(self, shards: int, seed: int):
        self.states = {j: torch.Generator().manual_seed(seed + SHARD_SEED_STRIDE * j).get_state()
                       for j in range(1, shards)}

    @contextlib.contextmanager
    def use(self, shard: int):
        if shard == 0:
            yield
            return
        outer = torch.get_rng_state()
        torch.set_rng_state(self.states[shard])
        try:
            yield
        finally:
            self.states[shard] = torch.get_rng_state()
            torch.set_rng_state(outer)


class ShardedSVI:
    """`step(x, masked, **kwargs)` like `SVI.step`, over the shards (module docstring).

    order: the OrderModel; elbo: the estimator; optim: a Pyro optimizer; world: the process
    group; shards: S (None: one per process); seed: the run's seed, for the shard streams.
    After a step, `last_stats` holds the estimator's statistics averaged over the global batch.
    """

    def __init__(self, order, elbo, optim, world: World, shards: int | None, seed: int):
        shards = world.size if shards is None else shards
        if shards < 1 or shards % world.size:
            raise ValueError(f"train.shards must be a positive multiple of the {world.size} "
                             f"processes, got {shards}")
        self.elbo, self.optim, self.world, self.shards = elbo, optim, world, shards
        self.svi = SVI(order.model, order.guide, optim, loss=elbo)
        self.single = shards == 1 and not world.distributed
        self.net = None if self.single else EstimatorLoss(order, elbo)
        if world.distributed:
            self.net = DistributedDataParallel(self.net)
        per_rank = shards // world.size
        self.local = range(world.rank * per_rank, (world.rank + 1) * per_rank)
        self.streams = ShardStreams(shards, seed)
        self.last_stats: dict[str, float] = {}

    def shard(self, j: int, x: torch.Tensor, masked: torch.Tensor, kwargs: dict
              ) -> tuple[tuple[torch.Tensor, torch.Tensor], dict]:
        """Shard j's rows of (x, masked) and of every per-sequence `[batch]` tensor in kwargs."""
        batch = x.shape[0]
        if batch % self.shards:
            raise ValueError(f"train.batch_size {batch} does not split into train.shards="
                             f"{self.shards} equal shards")
        size = batch // self.shards
        rows = slice(j * size, (j + 1) * size)
        return (x[rows], masked[rows]), {
            k: v[rows] if torch.is_tensor(v) and v.dim() and v.shape[0] == batch else v
            for k, v in kwargs.items()}

    def step(self, x: torch.Tensor, masked: torch.Tensor, **kwargs) -> float:
        """Returns the loss summed over the global batch (as `SVI.step`)."""
        if self.single:
            loss = self.svi.step(x, masked, **kwargs)
            self.last_stats = dict(self.elbo.last_stats)
            return loss
        totals, names = None, None
        with poutine.trace(param_only=True) as param_capture:
            for i, j in enumerate(self.local):
                args, shard_kwargs = self.shard(j, x, masked, kwargs)
                last = i == len(self.local) - 1
                sync = (self.net.no_sync() if self.world.distributed and not last
                        else contextlib.nullcontext())
                with self.streams.use(j), sync:
                    loss = self.net(*args, **shard_kwargs)
                    (loss * self.world.size).backward()
                names = sorted(self.elbo.last_stats)
                row = torch.tensor([float(loss.detach())] + [self.elbo.last_stats[n] for n in names],
                                   dtype=torch.float64)
                totals = row if totals is None else totals + row
        params = {site["value"].unconstrained() for site in param_capture.trace.nodes.values()}
        self.optim(params)
        zero_grads(params)
        totals = self.world.sum(totals)
        self.last_stats = {n: float(v) / self.shards for n, v in zip(names, totals[1:])}
        return float(totals[0])

    def rng_state(self) -> dict[int, torch.Tensor]:
        """Every shard stream's state (collective: call on every process)."""
        merged = {}
        for states in self.world.gather({j: self.streams.states[j] for j in self.local if j}):
            merged.update(states)
        return merged

    def set_rng_state(self, states: dict[int, torch.Tensor]) -> None:
        if set(states) != set(self.streams.states):
            raise ValueError(f"the checkpoint holds RNG streams for shards {sorted(states)}, this "
                             f"run has {sorted(self.streams.states)}: resume with the same "
                             f"train.shards")
        self.streams.states = dict(states)
