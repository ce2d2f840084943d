"""Character-level text (tiny-shakespeare) as the training and evaluation code sees it.

There is no right answer to check, so the task reports sample quality instead of accuracy:
`quality_metrics` scores each sample by its generative perplexity under the project's own
autoregressive character model (`weights/text-ar`, trained on the same training split) and by
its unigram character entropy (low entropy = repetition).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..checks import check_count, check_generator
from ..eval_data import EvalData, QualityMetric
from .corpus import Corpus
from .metrics import generative_perplexity, unigram_entropy
from .vocabulary import check_vocabulary

EVAL_SPLITS = ("validation", "test")


class TextTask:
    """Windows of `length` characters of a corpus split 90/5/5 by position.

    prompt_chars: how many leading characters of each evaluation window are given (0: the
    unconditional problem, every position masked; 32: continue a 32-character prompt).
    scorer: the autoregressive model folder that scores samples (None: quality_metrics refuses).
    Training windows start at uniformly random offsets of the training split; evaluation
    windows are the consecutive non-overlapping windows of the validation or test split.
    """

    name = "text"
    default_eval_path = "validation"   # what the entry points evaluate on by default
    structure = "sequence"
    primary_metric = "gen_ppl"
    quality = (QualityMetric("gen_ppl", "gen PPL", lower_is_better=True, mean="geometric"),
               QualityMetric("entropy", "entropy (bits)", lower_is_better=False))

    def __init__(self, path: str = "text/tinyshakespeare.txt", length: int = 128,
                 prompt_chars: int = 0, scorer: str | None = None, val_limit: int = 16,
                 seed: int = 0):
        self.length = check_count("length", length)
        if isinstance(prompt_chars, bool) or not isinstance(prompt_chars, int) \
                or not 0 <= prompt_chars < length:
            raise ValueError(f"prompt_chars must be an integer in [0, {length - 1}] (at least one "
                             f"character to generate), got {prompt_chars!r}")
        self.prompt_chars, self.scorer_path = prompt_chars, scorer
        self.val_limit = check_count("val_limit", val_limit)
        self.seed = seed
        self.corpus = Corpus.load(path)
        self.vocabulary = self.corpus.vocabulary.chars
        self.vocab_size = self.corpus.vocabulary.size
        self.mask_id = self.corpus.vocabulary.mask_id
        self._scorer = None

    def __repr__(self) -> str:
        return f"TextTask(length={self.length}, prompt_chars={self.prompt_chars})"

    # ------------------------------------------------------------------ data

    def train_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """`[batch_size, length]` training windows at random offsets of the training split."""
        check_count("batch_size", batch_size)
        check_generator(generator)
        return self.corpus.random_windows("train", batch_size, self.length, generator)

    def generate_mask(self, n: int, prompt_chars: int | None = None) -> torch.Tensor:
        """`[n, length]` bool: the positions to generate (all after the prompt)."""
        k = self.prompt_chars if prompt_chars is None else prompt_chars
        return (torch.arange(self.length) >= k)[None, :].expand(n, -1).clone()

    def planner_batch(self, batch_size: int, generator: torch.Generator,
                      givens=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training windows `[batch, length]` and the positions to generate `[batch, length]`:
        all after the first `givens` characters (None: the task's `prompt_chars`)."""
        if givens is not None and (isinstance(givens, bool) or not isinstance(givens, int)
                                   or not 0 <= givens < self.length):
            raise ValueError(f"givens must be None or a prompt length in [0, {self.length - 1}], "
                             f"got {givens!r}")
        x = self.train_batch(batch_size, generator)
        return x, self.generate_mask(batch_size, givens)

    def val_sequences(self, n: int) -> torch.Tensor:
        """`[n, length]` validation windows at evenly spaced offsets (the denoiser's
        validation loss; any n, overlapping when n exceeds the split's windows)."""
        ids = self.corpus.split("validation")
        starts = torch.linspace(0, len(ids) - self.length, check_count("n", n)).long()
        return ids[starts[:, None] + torch.arange(self.length)[None, :]]

    def load_eval(self, path: str, limit: int | None = None, select: str = "first") -> EvalData:
        """Windows of a split: `path` is "validation" or "test" (test only: final figures,
        never selection). limit: how many (None: all); select: "first" windows in order, or
        "spread" evenly over the split. Prompts keep the first `prompt_chars` characters."""
        if path not in EVAL_SPLITS:
            raise ValueError(f"the text task reads its evaluation windows from a split of the "
                             f"corpus: path must be one of {EVAL_SPLITS}, got {path!r}")
        if select not in ("first", "spread"):
            raise ValueError(f"select must be 'first' or 'spread', got {select!r}")
        windows = self.corpus.windows(path, self.length)
        n = len(windows) if limit is None else min(check_count("limit", limit), len(windows))
        if select == "first":
            x = windows[:n]
        else:
            x = windows[torch.linspace(0, len(windows) - 1, n).round().long()]
        prompts = x.masked_fill(self.generate_mask(n), self.mask_id)
        source = f"{Path(self.corpus.source).stem}-{path}-L{self.length}-prompt{self.prompt_chars}"
        return EvalData(prompts, x, {}, source)

    def render(self, tokens: torch.Tensor) -> str:
        return self.corpus.vocabulary.decode(tokens)

    def check_model(self, what: str, vocabulary: str | None) -> None:
        """Refuse a model (denoiser or scorer) trained on another character vocabulary."""
        check_vocabulary(what, vocabulary, self.vocabulary)

    # ------------------------------------------------------------------ quality

    @property
    def scorer(self):
        if self._scorer is None:
            if self.scorer_path is None:
                raise ValueError("the text task has no scorer: set task.scorer to an "
                                 "autoregressive model folder (weights/text-ar)")
            from .ar_model import CharARTransformer
            self._scorer = CharARTransformer.from_pretrained(self.scorer_path,
                                                             vocabulary=self.vocabulary)
        return self._scorer

    @torch.no_grad()
    def quality_metrics(self, samples: torch.Tensor, prompts: torch.Tensor,
                        references: torch.Tensor | None = None,
                        batch_size: int = 256) -> dict[str, torch.Tensor]:
        """`[n]` gen_ppl (exp of the mean NLL per generated character under the scorer, the
        prompt as its context) and entropy (bits, of the generated characters' histogram)."""
        if samples.shape != prompts.shape:
            raise ValueError(f"samples {tuple(samples.shape)} must match prompts {tuple(prompts.shape)}")
        if (samples == self.mask_id).any():
            raise ValueError("samples still hold mask tokens: score completed sequences only")
        generated = prompts == self.mask_id
        kept = ((samples == prompts) | generated).all()
        if not kept:
            raise ValueError("samples changed a prompt character")
        nll = torch.cat([self.scorer.nll(samples[i:i + batch_size].cpu())
                         for i in range(0, len(samples), batch_size)])
        return {"gen_ppl": generative_perplexity(nll, generated),
                "entropy": unigram_entropy(samples.cpu(), generated, self.vocab_size)}

    def validation_metrics(self, denoiser, limit: int | None = None) -> dict[str, float]:
        """While training a denoiser (no scorer needed): `val/sample_entropy` (bits) and
        `val/nfe` of unconditional samples at temperature 1, top-k margin order, 32 steps."""
        from planner import sample
        from planner.policies.topk_margin import TopKMargin

        n = limit or self.val_limit
        prompts = torch.full((n, self.length), self.mask_id, dtype=torch.long)
        result = sample(denoiser, TopKMargin(steps=32), prompts, temperature=1.0,
                        generator=torch.Generator().manual_seed(self.seed))
        entropy = unigram_entropy(result.tokens.cpu(), prompts == self.mask_id, self.vocab_size)
        return {"sample_entropy": float(entropy.mean()), "nfe": float(result.nfe.float().mean())}
