"""Per-row random streams: `sample(seeds=)` gives every row of the batch its own generator.

With one `generator` for the batch (the default of `sample()`), a row's random numbers are the
next ones in a stream shared with the rows beside it, so a random order, a remask draw or a
sampled token depends on the batch. `RowStreams` holds one CPU torch.Generator per row, seeded
with that row's seed, and draws each row's numbers from its own generator over its own
positions only (padding excluded), so a row draws the same numbers whatever else is in the
batch, on whichever side it is padded, and whether or not other rows have finished. A row's
output then depends only on its own seed (tests/test_batch_invariance.py, tests/test_row_random.py).

Every draw takes `rows` (the rows of the batch given to `sample()`, as `StepContext.rows`) and a
shape `[len(rows), length, ...]` whose second axis is the sequence; each row draws
`[its real positions, ...]` in one call and gets them at its real positions, `FILL` at padding
(never masked, so never read).
"""
from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import torch

SEED_LIMIT = 2 ** 63     # a seed is an integer in [0, 2**63): it fits a LongTensor
FILL = 0.5               # the value at padding positions (finite under log(-log(u)))


def check_seeds(seeds, batch: int) -> list[int]:
    """`seeds` (a 1-D integer tensor or a sequence of ints, one per row) as a list of ints."""
    if isinstance(seeds, torch.Tensor):
        if seeds.dtype in (torch.bool,) or seeds.is_floating_point() or seeds.is_complex():
            raise TypeError(f"seeds must hold integers, got a tensor of dtype {seeds.dtype}")
        if seeds.dim() != 1:
            raise ValueError(f"seeds must be 1-D, one seed per row, got shape {tuple(seeds.shape)}")
        seeds = seeds.tolist()
    elif isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a LongTensor [batch] or a list of ints, one per row, got "
                        f"{type(seeds).__name__}")
    seeds = list(seeds)
    if len(seeds) != batch:
        raise ValueError(f"seeds has {len(seeds)} entries; expected one per row ({batch})")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < SEED_LIMIT:
            raise ValueError(f"seeds[{i}] must be an integer in [0, 2**63), got {s!r}")
    return seeds


def derive_seed(seed: int, ids: Sequence[int]) -> int:
    """A row's seed from a base `seed` and the row's own token ids (its prompt): the same for
    the row whatever else is in the batch, distinct for different prompts (a stable hash, the
    same in every process)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    data = ",".join(str(int(t)) for t in (seed, *ids)).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little") % SEED_LIMIT


class RowStreams:
    """One torch.Generator per row of a `sample()` call.

    seeds: one per row (`check_seeds`). padding: optional `[batch, length]` bool, True at
    positions that are not part of the row: rows draw over their other positions only.
    """

    def __init__(self, seeds, batch: int, length: int, padding: torch.Tensor | None = None):
        self.seeds = check_seeds(seeds, batch)
        self.length = length
        self.generators = [torch.Generator().manual_seed(s) for s in self.seeds]
        real = (torch.ones(batch, length, dtype=torch.bool) if padding is None
                else ~padding.detach().cpu().bool())
        self._positions = [torch.nonzero(r).squeeze(1) for r in real]

    def __len__(self) -> int:
        return len(self.generators)

    def generator(self, row: int) -> torch.Generator:
        """The generator of `row` (a row of the batch given to `sample()`)."""
        return self.generators[int(row)]

    def _draw(self, rows, shape, draw: Callable, dtype, where, fill) -> torch.Tensor:
        shape = tuple(int(s) for s in shape)
        rows = [int(r) for r in torch.as_tensor(rows).reshape(-1).tolist()]
        if len(shape) < 2 or shape[0] != len(rows) or shape[1] != self.length:
            raise ValueError(f"a per-row draw takes the shape [rows, length, ...] = "
                             f"[{len(rows)}, {self.length}, ...], got {list(shape)}")
        out = torch.full(shape, fill, dtype=dtype)
        take = [True] * len(rows) if where is None else torch.as_tensor(where).reshape(-1).tolist()
        for i, row in enumerate(rows):
            if take[i]:
                at = self._positions[row]
                out[i, at] = draw((len(at), *shape[2:]), self.generators[row])
        return out

    def uniform(self, rows, shape, dtype: torch.dtype = torch.float32,
                where=None) -> torch.Tensor:
        """CPU Uniform[0, 1) noise of `shape`, each row from its own generator. `where`: an
        optional `[len(rows)]` bool, the rows that draw (the others get FILL and their
        generators do not move), for a draw some rows of a step need and others not."""
        return self._draw(rows, shape, lambda s, g: torch.rand(s, generator=g, dtype=dtype),
                          dtype, where, FILL)

    def randint(self, rows, high: int, shape) -> torch.Tensor:
        """CPU long integers uniform on [0, high) of `shape`, each row from its own generator
        (0 at padding)."""
        return self._draw(rows, shape, lambda s, g: torch.randint(0, high, s, generator=g),
                          torch.long, None, 0)


def uniform(shape, generator: torch.Generator | None, streams: RowStreams | None = None,
            rows=None, dtype: torch.dtype = torch.float32, where=None) -> torch.Tensor:
    """CPU Uniform[0, 1) noise of `shape`: per row from `streams` when given, else from the
    one `generator` (the whole shape in one draw, as before per-row streams existed)."""
    if streams is None:
        return torch.rand(shape, generator=generator, dtype=dtype)
    return streams.uniform(rows, shape, dtype, where)

