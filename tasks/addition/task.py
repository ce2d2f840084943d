"""The addition task `a+b=c` as the training and evaluation code sees it.

Order matters here: the answer digits are written most significant first, but a carry moves
from right to left, so a plan that commits the leading digits before the ones they depend on
guesses. The evaluation buckets by the number of carries to show where a policy breaks.
"""
from __future__ import annotations

import torch

from ..checks import check_count, check_generator
from ..eval_data import EvalData
from .format import (MASK_ID, SPLIT_BUCKETS, VOCAB_SIZE, Layout, add_digits, encode, is_valid_sum,
                     random_operands, render, significant_digits, split_bucket)

EVAL_SPLITS = ("validation", "test")
# Seeds of the evaluation splits; the splits are disjoint from training by construction
# (SPLIT_BUCKETS), so these only fix which held-out pairs are drawn, and in which order.
SPLIT_SEEDS = {"validation": 1_000_003, "test": 2_000_029}
EVAL_CHUNK = 4096   # draws per chunk when generating a split: the first N rows never change with N


class AdditionTask:
    """Generated `a+b=c` sequences with up to `max_digits`-digit operands.

    Each operand's digit count is uniform on 1..max_digits, so short and long numbers both
    appear. Every (a, b) pair belongs to one split (a hash of its digits): training draws only
    training pairs; "validation" and "test" are generated from their own seeds among their own
    pairs. Givens: both operands and the two symbols; generated: the max_digits + 1 answer digits.
    `seed` shifts the evaluation splits' seeds (the training stream is seeded by its caller).
    """

    name = "addition"
    default_eval_path = "validation"   # what the entry points evaluate on by default
    vocab_size = VOCAB_SIZE
    mask_id = MASK_ID
    structure = "sequence"
    BUCKET_COLUMNS = ("carries", "digits")

    def __init__(self, max_digits: int = 8, seed: int = 0, val_limit: int = 256):
        self.layout = Layout(max_digits)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        self.max_digits, self.seed = max_digits, seed
        self.val_limit = check_count("val_limit", val_limit)
        self.length = self.layout.length

    def __repr__(self) -> str:
        return f"AdditionTask(max_digits={self.max_digits}, seed={self.seed})"

    def _operands(self, n: int, generator: torch.Generator, split: str,
                  chunk: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` operand pairs `[n, d]` each, drawn from `split`'s pairs by rejection."""
        buckets = SPLIT_BUCKETS[split]
        lo, hi = buckets.start, buckets.stop
        a_parts, b_parts, have = [], [], 0
        while have < n:
            size = chunk or max(2 * (n - have), 16)
            a = random_operands(size, self.max_digits, generator)
            b = random_operands(size, self.max_digits, generator)
            h = split_bucket(a, b)
            keep = (h >= lo) & (h < hi)
            a_parts.append(a[keep])
            b_parts.append(b[keep])
            have += int(keep.sum())
        return torch.cat(a_parts)[:n], torch.cat(b_parts)[:n]

    def train_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """`[batch_size, length]` clean training sequences `a+b=c`."""
        check_count("batch_size", batch_size)
        a, b = self._operands(batch_size, check_generator(generator), "train")
        return encode(a, b, self.layout)

    def planner_batch(self, batch_size: int, generator: torch.Generator,
                      givens=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean training sequences `[batch, length]` and the positions to generate `[batch,
        length]` bool: always the answer digits (the prompt is the whole `a+b=`), so `givens`
        must be None."""
        if givens is not None:
            raise ValueError(f"the addition task's givens are fixed (both operands and the "
                             f"symbols); givens must be None, got {givens!r}")
        x = self.train_batch(batch_size, generator)
        return x, self.layout.answer_mask().expand(batch_size, -1).clone()

    def split(self, split: str, limit: int) -> tuple[torch.Tensor, dict[str, list[str]]]:
        """The first `limit` clean sequences of an evaluation split `[limit, length]`, and
        their difficulty labels: `carries` (carry operations in a + b) and `digits` (the
        longer operand's digit count)."""
        if split not in EVAL_SPLITS:
            raise ValueError(f"the addition task generates its evaluation data: path must name a "
                             f"split, one of {EVAL_SPLITS}, got {split!r}")
        check_count("limit", limit)
        g = torch.Generator().manual_seed(SPLIT_SEEDS[split] + self.seed)
        a, b = self._operands(limit, g, split, chunk=EVAL_CHUNK)
        _, carries = add_digits(a, b)
        digits = torch.maximum(significant_digits(a), significant_digits(b))
        buckets = {"carries": [str(v) for v in carries.tolist()],
                   "digits": [str(v) for v in digits.tolist()]}
        return encode(a, b, self.layout), buckets

    def val_sequences(self, n: int) -> torch.Tensor:
        """`[n, length]` clean validation sequences (the denoiser's validation loss)."""
        return self.split("validation", n)[0]

    def load_eval(self, path: str, limit: int | None = 1000, select: str = "first") -> EvalData:
        """A generated split: `path` is "validation" or "test", `limit` the number of
        sequences (None: 1000). The rows are i.i.d., so select "first" and "spread" (accepted
        for the harness's sake) give the same rows."""
        if select not in ("first", "spread"):
            raise ValueError(f"select must be 'first' or 'spread', got {select!r}")
        x, buckets = self.split(path, 1000 if limit is None else limit)
        prompts = x.masked_fill(self.layout.answer_mask(), self.mask_id)
        return EvalData(prompts, x, buckets, f"addition-{path}-d{self.max_digits}-seed{self.seed}")

    def render(self, tokens: torch.Tensor) -> str:
        return render(tokens, self.layout)

    def correct(self, samples: torch.Tensor, prompts: torch.Tensor,
                references: torch.Tensor | None = None) -> torch.Tensor:
        """`[batch]` bool: the sequence reads `a+b=c` with c = a + b exactly, and keeps the
        prompt's givens. Checked from the sample itself, so `references` are not needed."""
        if samples.shape != prompts.shape:
            raise ValueError(f"samples {tuple(samples.shape)} must match prompts {tuple(prompts.shape)}")
        given = prompts != self.mask_id
        kept = ((samples == prompts) | ~given).all(1)
        return is_valid_sum(samples, self.layout) & kept

    def validation_metrics(self, denoiser, limit: int | None = None) -> dict[str, float]:
        """`val/accuracy` (exact match) and `val/nfe` on validation sums with greedy tokens and
        the top-k margin order."""
        from planner import sample
        from planner.policies.topk_margin import TopKMargin

        data = self.load_eval("validation", limit or self.val_limit)
        result = sample(denoiser, TopKMargin(), data.prompts)
        return {"accuracy": float(self.correct(result.tokens, data.prompts).float().mean()),
                "nfe": float(result.nfe.float().mean())}
