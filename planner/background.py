"""Background token frequencies f_bg(v), for the PC-sampler's calibrated confidence.

Computed from a task's training data (`experiments/token_frequency.py`) and saved beside the
weights as JSON: {"format": "token_frequency", "vocab_size": V, "frequency": [V floats],
"meta": {...}}. Additive smoothing keeps every frequency positive, so log f_bg is finite.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable

import torch

from denoiser.checkpoint import atomic_write_text

FORMAT = "token_frequency"


def token_frequency(tokens: torch.Tensor, vocab_size: int, exclude: Iterable[int] = (),
                    smoothing: float = 1.0) -> torch.Tensor:
    """`[N, L]` token ids -> `[vocab_size]` float64 frequencies summing to 1.

    f(v) = (count(v) + smoothing) / sum_u (count(u) + smoothing), where tokens in `exclude`
    (the mask id) are not counted, so they keep only the smoothing mass.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"tokens must be an integer tensor of token ids, got "
                        f"{getattr(tokens, 'dtype', type(tokens).__name__)}")
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be [N, L], got shape {tuple(tokens.shape)}")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}")
    if not smoothing > 0:
        raise ValueError(f"smoothing must be > 0 so that log f is finite, got {smoothing!r}")
    flat = tokens.reshape(-1).long()
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= vocab_size):
        bad = int(flat.min()) if int(flat.min()) < 0 else int(flat.max())
        raise ValueError(f"token id {bad} is outside the vocabulary [0, {vocab_size})")
    counts = torch.bincount(flat, minlength=vocab_size).double()
    for v in exclude:
        if not 0 <= v < vocab_size:
            raise ValueError(f"excluded token id {v} is outside the vocabulary [0, {vocab_size})")
        counts[v] = 0.0
    smoothed = counts + smoothing
    return smoothed / smoothed.sum()


def check_frequency(freq, vocab_size: int | None = None, where: str = "frequency") -> torch.Tensor:
    """A list or tensor of frequencies -> `[V]` float64; refuses non-positive or non-finite ones
    and, when `vocab_size` is given, a vector of another length."""
    t = torch.as_tensor(freq, dtype=torch.float64)
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"{where} must be a non-empty 1-D list of per-token frequencies, "
                         f"got shape {tuple(t.shape)}")
    if vocab_size is not None and t.numel() != vocab_size:
        raise ValueError(f"{where} has {t.numel()} entries, but the vocabulary has {vocab_size} "
                         f"tokens: it was computed for another vocabulary")
    if not torch.isfinite(t).all() or (t <= 0).any():
        raise ValueError(f"{where} must be finite and > 0 everywhere (log f must be finite), "
                         f"got min {float(t.min())}")
    return t


def save_frequency(path: str | Path, freq: torch.Tensor, meta: dict | None = None) -> None:
    """Write frequencies as JSON, atomically."""
    t = check_frequency(freq)
    record = {"format": FORMAT, "vocab_size": t.numel(), "frequency": t.tolist(), "meta": meta or {}}
    atomic_write_text(json.dumps(record, indent=1) + "\n", path)


def load_frequency(path: str | Path, vocab_size: int | None = None) -> torch.Tensor:
    """Read frequencies saved by `save_frequency` -> `[V]` float64. Refuses a file for another
    vocabulary when `vocab_size` is given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no background frequency file at {path}; make one with "
                                f"`python -m experiments.token_frequency`")
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise ValueError(f"{path} is not a token frequency file (expected \"format\": \"{FORMAT}\")")
    stored = record.get("vocab_size")
    if vocab_size is not None and stored != vocab_size:
        raise ValueError(f"{path} holds frequencies for vocab_size={stored}, but {vocab_size} was "
                         f"expected: it was computed for another vocabulary")
    freq = check_frequency(record.get("frequency", []), stored, where=str(path))
    if not math.isclose(float(freq.sum()), 1.0, rel_tol=1e-6):
        raise ValueError(f"{path}: frequencies sum to {float(freq.sum())}, expected 1")
    return freq
