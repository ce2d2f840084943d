"""The Sudoku task as the training and evaluation code sees it."""
from __future__ import annotations

import random

import torch

from ..checks import check_count
from ..eval_data import EvalData
from ..paths import resolve_data_path
from .board import LENGTH, MASK_ID, VOCAB_SIZE, is_solved, pretty
from .csv_loader import load_sudoku_csv
from .solver import random_grid
from .symmetry import random_symmetry


def rating_bin(rating: str) -> str:
    """A Sukaku-Explainer rating ("7.2") as its whole-point bin ("7.0-7.9"); "unrated" if empty."""
    rating = rating.strip()
    if not rating:
        return "unrated"
    whole = int(float(rating))
    return f"{whole}.0-{whole}.9"


class SudokuTask:
    """Generated training grids and CSV validation puzzles.

    Training data is generated, never read from a file: `pool_size` complete grids from
    randomised backtracking (seeded), each batch drawn from the pool and passed through an
    independent random symmetry, so the stream never repeats in practice.
    """

    name = "sudoku"
    vocab_size = VOCAB_SIZE
    mask_id = MASK_ID
    length = LENGTH
    structure = "sudoku"

    def __init__(self, pool_size: int = 2000, seed: int = 0,
                 val_path: str = "sudoku/rrn_style_valid_18000.csv", val_limit: int = 256):
        if pool_size < 1:
            raise ValueError(f"pool_size must be at least 1, got {pool_size}")
        self.pool_size, self.seed = pool_size, seed
        self.val_path, self.val_limit = val_path, val_limit
        self.default_eval_path = val_path    # what the entry points evaluate on by default
        self._pool: torch.Tensor | None = None

    @property
    def pool(self) -> torch.Tensor:
        """`[pool_size, 81]` complete grids, generated on first use (about 1 ms each)."""
        if self._pool is None:
            rng = random.Random(self.seed)
            self._pool = torch.tensor([random_grid(rng) for _ in range(self.pool_size)])
        return self._pool

    def train_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """`[batch_size, 81]` clean grids for the masked-diffusion objective."""
        idx = torch.randint(0, self.pool_size, (batch_size,), generator=generator)
        return random_symmetry(self.pool[idx], generator)

    def planner_batch(self, batch_size: int, generator: torch.Generator,
                      givens: tuple[int, int] = (17, 40)) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean grids `[batch, 81]` and the cells to generate `[batch, 81]` bool, for training
        a planner: each row keeps a uniformly random set of `givens` cells, their number uniform
        in the inclusive range (the validation puzzles have 17..34)."""
        lo, hi = givens
        if not 0 <= lo <= hi < LENGTH:
            raise ValueError(f"givens must be a range within [0, {LENGTH - 1}], got {givens}")
        x = self.train_batch(batch_size, generator)
        n_givens = torch.randint(lo, hi + 1, (batch_size, 1), generator=generator)
        rank = torch.argsort(torch.rand(batch_size, LENGTH, generator=generator), dim=1).argsort(1)
        return x, rank >= n_givens

    BUCKET_COLUMNS = ("givens", "singles_only", "se_rating", "se_bucket")

    def load_eval(self, path: str, limit: int | None = None, select: str = "first") -> EvalData:
        """Puzzles of any Sudoku CSV in the format of data/README.md, with its difficulty columns.

        select="first" takes the first `limit` rows; "spread" takes `limit` rows evenly spread
        through the file (a file ordered by difficulty, like se_ladder.csv, keeps every level);
        "every:K:OFFSET" takes rows OFFSET, OFFSET + K, OFFSET + 2K, ... (the first `limit` of
        them): a selection set disjoint from a spread one (e.g. every:9:4 against spread 2000).
        """
        stride = parse_every(select)
        if stride is None and select not in ("first", "spread"):
            raise ValueError(f"select must be 'first', 'spread' or 'every:K:OFFSET', got {select!r}")
        if limit is not None:
            check_count("limit", limit)
        data = load_sudoku_csv(resolve_data_path(path), limit=limit if select == "first" else None)
        if select == "spread" and limit is not None and limit < len(data):
            data = data.subset(torch.linspace(0, len(data) - 1, limit).round().long())
        if stride is not None:
            k, offset = stride
            rows = torch.arange(offset, len(data), k)[:limit]
            if not rows.numel():
                raise ValueError(f"select={select!r} takes no row of {path} ({len(data)} rows)")
            data = data.subset(rows)
        buckets = {c: data.extra[c] for c in self.BUCKET_COLUMNS
                   if c in data.extra and any(v.strip() for v in data.extra[c])}
        if "givens" not in buckets:      # the count is in the puzzle itself
            buckets["givens"] = [str(int(n)) for n in (data.puzzles != MASK_ID).sum(1)]
        if "se_rating" in buckets:       # 58 distinct ratings: one bin per whole point
            buckets["se_rating"] = [rating_bin(v) for v in buckets["se_rating"]]
        return EvalData(data.puzzles, data.solutions, buckets, data.path)

    @staticmethod
    def render(tokens: torch.Tensor) -> str:
        return pretty(tokens)

    @staticmethod
    def correct(samples: torch.Tensor, prompts: torch.Tensor, references: torch.Tensor | None = None) -> torch.Tensor:
        """`[batch]` bool: the completed grid is valid and keeps the givens."""
        return is_solved(samples, prompts)

    def validation_metrics(self, denoiser, limit: int | None = None) -> dict[str, float]:
        """`val/accuracy`: puzzles solved with greedy tokens and the top-k margin order."""
        from planner import sample
        from planner.policies.topk_margin import TopKMargin

        # rows evenly spaced through the validation file (never a test-only file)
        data = self.load_eval(self.val_path, limit or self.val_limit, "spread")
        result = sample(denoiser, TopKMargin(), data.prompts)
        return {"accuracy": float(self.correct(result.tokens, data.prompts).float().mean()),
                "nfe": float(result.nfe.float().mean())}


def parse_every(select) -> tuple[int, int] | None:
    """(K, OFFSET) for a `select` of the form "every:K:OFFSET", else None."""
    if not isinstance(select, str) or not select.startswith("every:"):
        return None
    parts = select.split(":")
    try:
        k, offset = int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        k = offset = -1
    if len(parts) != 3 or k < 1 or offset < 0:
        raise ValueError(f"select must be 'every:K:OFFSET' with K >= 1 and OFFSET >= 0, got {select!r}")
    return k, offset
