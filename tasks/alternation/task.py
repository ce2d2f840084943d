"""The seeds' alternation example: the valid sequences are exactly ABAB... and BABA...

Token ids: 0 the mask, 1 the symbol A, 2 the symbol B (vocabulary of 3).

Training data is one of the two alternating sequences, each with probability 1/2. With nothing
committed, an exact denoiser says 1/2 - 1/2 at every position, yet one committed token fixes
every other one (probability 1). So the ideal plan uses two denoiser calls: one position, then
all the rest. A policy that commits several positions at the 1/2 - 1/2 state draws them
independently and breaks the alternation with probability 1 - 2^(1-k) for k of them.
"""
from __future__ import annotations

import torch

from ..checks import check_count, check_generator
from ..eval_data import EvalData

MASK_ID = 0
A = 1
B = 2
VOCAB_SIZE = 3

EVAL_SPLITS = ("validation", "test")
SPLIT_SEEDS = {"validation": 1_000_003, "test": 2_000_029}


def is_alternating(x: torch.Tensor) -> torch.Tensor:
    """`[batch, length]` -> `[batch]` bool: only A and B, and no two neighbours equal."""
    symbols = ((x == A) | (x == B)).all(1)
    return symbols & (x[:, 1:] != x[:, :-1]).all(1)


class AlternationTask:
    """Alternating sequences of `length` tokens.

    givens: how many positions each evaluation prompt (and, by default, each planner batch)
    reveals, chosen uniformly at random; 0 (the default) is the unconditional problem, every
    position to generate. The evaluation splits are generated from their own seeds (`seed`
    shifts them); with only two valid sequences they cannot be disjoint from the training data,
    what they hold out is the random choice of revealed positions.
    """

    name = "alternation"
    default_eval_path = "validation"   # what the entry points evaluate on by default
    vocab_size = VOCAB_SIZE
    mask_id = MASK_ID
    structure = "sequence"

    def __init__(self, length: int = 16, givens: int = 0, seed: int = 0, val_limit: int = 256):
        if isinstance(length, bool) or not isinstance(length, int) or length < 2:
            raise ValueError(f"length must be an integer >= 2, got {length!r}")
        if isinstance(givens, bool) or not isinstance(givens, int) or not 0 <= givens < length:
            raise ValueError(f"givens must be an integer in [0, {length - 1}] (at least one "
                             f"position to generate), got {givens!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.length, self.givens, self.seed = length, givens, seed
        self.val_limit = check_count("val_limit", val_limit)

    def __repr__(self) -> str:
        return f"AlternationTask(length={self.length}, givens={self.givens}, seed={self.seed})"

    def train_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """`[batch_size, length]`: ABAB... or BABA..., each with probability 1/2."""
        check_count("batch_size", batch_size)
        check_generator(generator)
        first = torch.randint(0, 2, (batch_size, 1), generator=generator)
        return A + (first + torch.arange(self.length)[None, :]) % 2

    def _revealed(self, batch_size: int, generator: torch.Generator, givens) -> torch.Tensor:
        """`[batch, length]` bool: positions to generate, all but a uniformly random set of
        `givens` (an int, or an inclusive (lo, hi) range drawn per row)."""
        def is_int(v):
            return isinstance(v, int) and not isinstance(v, bool)

        if is_int(givens):
            lo = hi = givens
        elif isinstance(givens, (tuple, list)) and len(givens) == 2 and all(map(is_int, givens)):
            lo, hi = givens
        else:
            lo, hi = 1, 0       # refused below
        if not 0 <= lo <= hi < self.length:
            raise ValueError(f"givens must be an int or a range within [0, {self.length - 1}], "
                             f"got {givens!r}")
        n_givens = torch.randint(lo, hi + 1, (batch_size, 1), generator=generator)
        rank = torch.rand(batch_size, self.length, generator=generator).argsort(1).argsort(1)
        return rank >= n_givens

    def planner_batch(self, batch_size: int, generator: torch.Generator,
                      givens=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean sequences `[batch, length]` and the positions to generate `[batch, length]`
        bool; `givens` None uses the task's setting (0 by default: every position masked)."""
        x = self.train_batch(batch_size, generator)
        return x, self._revealed(batch_size, generator, self.givens if givens is None else givens)

    def val_sequences(self, n: int) -> torch.Tensor:
        """`[n, length]` clean validation sequences (the denoiser's validation loss)."""
        return self.load_eval("validation", n).references

    def load_eval(self, path: str, limit: int | None = 1000, select: str = "first") -> EvalData:
        """A generated split: `path` is "validation" or "test", `limit` the number of prompts
        (None: 1000), each with `givens` revealed positions. references hold the sequence the
        prompt was cut from (one valid completion; with 0 givens the other phase is as good).
        No difficulty buckets: every prompt is the same problem."""
        if path not in EVAL_SPLITS:
            raise ValueError(f"the alternation task generates its evaluation data: path must name "
                             f"a split, one of {EVAL_SPLITS}, got {path!r}")
        if select not in ("first", "spread"):
            raise ValueError(f"select must be 'first' or 'spread', got {select!r}")
        n = check_count("limit", 1000 if limit is None else limit)
        g = torch.Generator().manual_seed(SPLIT_SEEDS[path] + self.seed)
        x = self.train_batch(n, g)
        prompts = x.masked_fill(self._revealed(n, g, self.givens), self.mask_id)
        return EvalData(prompts, x, {}, f"alternation-{path}-L{self.length}-givens{self.givens}")

    def render(self, tokens: torch.Tensor) -> str:
        """One sequence `[length]` as text, `_` for a mask: `ABAB_BAB`."""
        if tokens.dim() != 1 or tokens.shape[0] != self.length:
            raise ValueError(f"render takes one sequence of length {self.length}, got shape "
                             f"{tuple(tokens.shape)}")
        chars = {MASK_ID: "_", A: "A", B: "B"}
        bad = [v for v in tokens.tolist() if v not in chars]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside the alternation vocabulary [0, {VOCAB_SIZE})")
        return "".join(chars[v] for v in tokens.tolist())

    def correct(self, samples: torch.Tensor, prompts: torch.Tensor,
                references: torch.Tensor | None = None) -> torch.Tensor:
        """`[batch]` bool: the sample alternates and keeps the prompt's givens (either phase
        is right when nothing was given, so `references` are not used)."""
        if samples.shape != prompts.shape:
            raise ValueError(f"samples {tuple(samples.shape)} must match prompts {tuple(prompts.shape)}")
        if samples.dim() != 2 or samples.shape[1] != self.length:
            raise ValueError(f"samples must be [batch, {self.length}], got {tuple(samples.shape)}")
        given = prompts != self.mask_id
        return is_alternating(samples) & ((samples == prompts) | ~given).all(1)

    def validation_metrics(self, denoiser, limit: int | None = None) -> dict[str, float]:
        """`val/accuracy` and `val/nfe` with greedy tokens and the top-k margin order."""
        from planner import sample
        from planner.policies.topk_margin import TopKMargin

        data = self.load_eval("validation", limit or self.val_limit)
        result = sample(denoiser, TopKMargin(), data.prompts)
        return {"accuracy": float(self.correct(result.tokens, data.prompts).float().mean()),
                "nfe": float(result.nfe.float().mean())}
