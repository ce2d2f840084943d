"""The character corpus split by position: the first 90% trains, the next 5% validates, the
last 5% is the test split (test only: nothing trains, tunes or selects on it)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..paths import resolve_data_path
from .vocabulary import CharVocabulary

SPLITS = ("train", "validation", "test")
FRACTIONS = (0.90, 0.05, 0.05)


@dataclass
class Corpus:
    vocabulary: CharVocabulary
    splits: dict[str, torch.Tensor]     # split name -> [chars] long token ids
    source: str

    @classmethod
    def load(cls, path: str | Path) -> "Corpus":
        try:
            file = resolve_data_path(path)
        except FileNotFoundError as err:       # it names every place tried
            raise FileNotFoundError(f"no text corpus: {err}") from None
        if not file.is_file():
            raise FileNotFoundError(f"no text corpus at {file} (from path {str(path)!r})")
        text = file.read_text(encoding="utf-8")
        if len(text) < 1000:
            raise ValueError(f"{file} holds {len(text)} characters; a corpus needs at least 1000")
        vocabulary = CharVocabulary.of_text(text)
        ids = vocabulary.encode(text)
        n_train = int(len(text) * FRACTIONS[0])
        n_val = int(len(text) * FRACTIONS[1])
        splits = {"train": ids[:n_train], "validation": ids[n_train:n_train + n_val],
                  "test": ids[n_train + n_val:]}
        return cls(vocabulary, splits, str(file))

    def split(self, name: str) -> torch.Tensor:
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return self.splits[name]

    def windows(self, name: str, length: int) -> torch.Tensor:
        """`[n, length]` consecutive non-overlapping windows of a split, in order."""
        ids = self.split(name)
        n = len(ids) // length
        if n < 1:
            raise ValueError(f"split {name!r} has {len(ids)} characters, fewer than one window "
                             f"of {length}")
        return ids[:n * length].view(n, length)

    def random_windows(self, name: str, batch_size: int, length: int,
                       generator: torch.Generator) -> torch.Tensor:
        """`[batch_size, length]` windows of a split at uniformly random offsets."""
        ids = self.split(name)
        starts = torch.randint(0, len(ids) - length + 1, (batch_size,), generator=generator)
        return ids[starts[:, None] + torch.arange(length)[None, :]]
