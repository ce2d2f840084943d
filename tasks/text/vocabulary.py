"""The character vocabulary of the text task: the corpus's characters, sorted, then the mask.

Token id i < len(chars) is `chars[i]`; the last id is the mask. The vocabulary is a string, so a
checkpoint stores it verbatim (`vocabulary` in its config) and a model trained on another
corpus, or on the same corpus with another character set, is refused by name, not by size only.
"""
from __future__ import annotations

import torch

MASK_CHAR = "_"   # how a mask is shown by `decode`; the corpus's own "_" (if any) is a token too


class CharVocabulary:
    def __init__(self, chars: str):
        if not isinstance(chars, str) or not chars:
            raise ValueError(f"a vocabulary is a non-empty string of characters, got {chars!r}")
        if "".join(sorted(set(chars))) != chars:
            raise ValueError("a vocabulary's characters must be distinct and sorted, got "
                             f"{chars!r}")
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        self.mask_id = len(chars)
        self.size = len(chars) + 1

    @classmethod
    def of_text(cls, text: str) -> "CharVocabulary":
        return cls("".join(sorted(set(text))))

    def encode(self, text: str) -> torch.Tensor:
        """`str` -> `[len(text)]` long token ids; refuses characters outside the vocabulary."""
        try:
            return torch.tensor([self.index[c] for c in text], dtype=torch.long)
        except KeyError as err:
            raise ValueError(f"character {err.args[0]!r} is not in the vocabulary of "
                             f"{len(self.chars)} characters") from None

    def decode(self, ids: torch.Tensor) -> str:
        """`[length]` token ids -> str, the mask shown as `MASK_CHAR`."""
        if ids.dim() != 1:
            raise ValueError(f"decode takes one sequence [length], got shape {tuple(ids.shape)}")
        out = []
        for v in ids.tolist():
            if v == self.mask_id:
                out.append(MASK_CHAR)
            elif 0 <= v < len(self.chars):
                out.append(self.chars[v])
            else:
                raise ValueError(f"token id {v} is outside the vocabulary [0, {self.size})")
        return "".join(out)

    def __eq__(self, other) -> bool:
        return isinstance(other, CharVocabulary) and other.chars == self.chars

    def __repr__(self) -> str:
        return f"CharVocabulary({len(self.chars)} characters + mask)"


def check_vocabulary(what: str, have: str | None, want: str) -> None:
    """Refuse a model whose recorded vocabulary is missing or differs from the task's."""
    if have is None:
        raise ValueError(f"{what} records no character vocabulary, but the text task needs its "
                         f"{len(want)} characters {want!r}: it was not trained on this corpus")
    if have != want:
        extra = sorted(set(have) - set(want))
        missing = sorted(set(want) - set(have))
        raise ValueError(f"{what} was trained on another character vocabulary ({len(have)} "
                         f"characters; extra {extra}, missing {missing}); the text task needs "
                         f"{len(want)} characters {want!r}")
