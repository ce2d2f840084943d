"""Token layout, arithmetic and rendering of the addition task `a+b=c`.

Token ids (vocabulary of 13):

    0        the mask
    1 .. 10  the digits 0 .. 9 (digit d is token d + 1)
    11       '+'
    12       '='

A sequence has a fixed length for a given `max_digits` = d: `a` zero-padded to d digits, '+',
`b` zero-padded to d digits, '=', `c = a + b` zero-padded to d + 1 digits, every number written
most significant digit first (the order people read). Length 3d + 3; 27 for d = 8:

    position  0 .. 7    8    9 .. 16   17   18 .. 26
    content   a         +    b         =    c

Inside this module numbers travel as digit tensors `[batch, d]`, least significant digit first
(index j is the digit of 10^j), because carries propagate in that direction.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

MASK_ID = 0
DIGIT0 = 1          # token id of the digit 0; digit k is DIGIT0 + k
PLUS = 11
EQUALS = 12
VOCAB_SIZE = 13

# Every (a, b) pair belongs to one split, by a hash of its digits into 100 buckets, so the
# validation and test sequences never occur in the training stream (short operands would
# otherwise collide: there are only 100 one-digit sums).
SPLIT_BUCKETS = {"train": range(0, 90), "validation": range(90, 95), "test": range(95, 100)}
_P = 2_147_483_647  # 2^31 - 1, the MINSTD modulus; products with _M stay below 2^47
_M = 48_271


@dataclass(frozen=True)
class Layout:
    """Where each part of `a+b=c` sits for operands of up to `max_digits` digits."""

    max_digits: int

    def __post_init__(self):
        if isinstance(self.max_digits, bool) or not isinstance(self.max_digits, int) or self.max_digits < 1:
            raise ValueError(f"max_digits must be an integer >= 1, got {self.max_digits!r}")

    @property
    def length(self) -> int:
        return 3 * self.max_digits + 3

    @property
    def a(self) -> slice:
        return slice(0, self.max_digits)

    @property
    def plus(self) -> int:
        return self.max_digits

    @property
    def b(self) -> slice:
        return slice(self.max_digits + 1, 2 * self.max_digits + 1)

    @property
    def equals(self) -> int:
        return 2 * self.max_digits + 1

    @property
    def answer(self) -> slice:
        return slice(2 * self.max_digits + 2, self.length)

    def answer_mask(self) -> torch.Tensor:
        """`[length]` bool: the d + 1 answer positions (what the model generates)."""
        m = torch.zeros(self.length, dtype=torch.bool)
        m[self.answer] = True
        return m


def add_digits(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Schoolbook addition of digit tensors `[batch, d]` (least significant first).

    Returns the sum's digits `[batch, d + 1]` (least significant first) and the number of
    carry operations `[batch]` (the columns whose digit sum reaches 10)."""
    carry = torch.zeros(a.shape[0], dtype=torch.long)
    out, carries = [], torch.zeros_like(carry)
    for j in range(a.shape[1]):
        s = a[:, j] + b[:, j] + carry
        carry = (s >= 10).long()
        carries += carry
        out.append(s % 10)
    out.append(carry)
    return torch.stack(out, 1), carries


def significant_digits(x: torch.Tensor) -> torch.Tensor:
    """`[batch, d]` digits (least significant first) -> `[batch]` the number of digits written
    without leading zeros (1 for the number 0)."""
    idx = torch.arange(1, x.shape[1] + 1)
    return ((x != 0).long() * idx).amax(1).clamp(min=1)


def split_bucket(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`[batch]` in 0..99: the split bucket of each (a, b) pair (see SPLIT_BUCKETS).

    A rolling MINSTD hash over the digits with xor-shift mixing; it depends only on the two
    numbers, so the same pair always falls in the same split. Every intermediate stays below
    2^47, so int64 never overflows."""
    h = torch.full((a.shape[0],), 12_345, dtype=torch.long)
    for digit in torch.cat([a, b], 1).T:
        h = (h * _M + digit + 1) % _P
        h = h ^ (h >> 11)
    for _ in range(3):
        h = (h * _M) % _P
        h = h ^ (h >> 13)
    return h % 100


def random_operands(n: int, max_digits: int, generator: torch.Generator) -> torch.Tensor:
    """`[n, max_digits]` digits of random numbers: the digit count uniform on 1..max_digits,
    then every digit uniform (the leading one nonzero unless the number has one digit)."""
    n_digits = torch.randint(1, max_digits + 1, (n,), generator=generator)
    digits = torch.randint(0, 10, (n, max_digits), generator=generator)
    lead = torch.randint(1, 10, (n,), generator=generator)
    rows = torch.arange(n)
    digits[rows, n_digits - 1] = torch.where(n_digits > 1, lead, digits[rows, n_digits - 1])
    return digits * (torch.arange(max_digits)[None, :] < n_digits[:, None])


def encode(a: torch.Tensor, b: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Operand digits `[batch, d]` (least significant first) -> sequences `[batch, 3d + 3]` of
    `a+b=c`."""
    c, _ = add_digits(a, b)
    n = a.shape[0]
    x = torch.empty(n, layout.length, dtype=torch.long)
    x[:, layout.a] = a.flip(1) + DIGIT0
    x[:, layout.plus] = PLUS
    x[:, layout.b] = b.flip(1) + DIGIT0
    x[:, layout.equals] = EQUALS
    x[:, layout.answer] = c.flip(1) + DIGIT0
    return x


def decode_digits(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Digit tokens `[batch, k]` (most significant first) -> digits `[batch, k]` (least
    significant first) and `[batch]` bool, whether every token is a digit."""
    ok = ((tokens >= DIGIT0) & (tokens <= DIGIT0 + 9)).all(1)
    return (tokens - DIGIT0).clamp(0, 9).flip(1), ok


def is_valid_sum(x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """`[batch, length]` -> `[batch]` bool: digits in the digit slots, '+' and '=' in theirs,
    and the answer equal to a + b."""
    if x.dim() != 2 or x.shape[1] != layout.length:
        raise ValueError(f"sequences must be [batch, {layout.length}], got {tuple(x.shape)}")
    a, ok_a = decode_digits(x[:, layout.a])
    b, ok_b = decode_digits(x[:, layout.b])
    c, ok_c = decode_digits(x[:, layout.answer])
    expected, _ = add_digits(a, b)
    symbols = (x[:, layout.plus] == PLUS) & (x[:, layout.equals] == EQUALS)
    return ok_a & ok_b & ok_c & symbols & (c == expected).all(1)


def render(tokens: torch.Tensor, layout: Layout) -> str:
    """One sequence `[length]` as text, `_` for a mask: `00000012+00000034=000000046`."""
    if tokens.dim() != 1 or tokens.shape[0] != layout.length:
        raise ValueError(f"render takes one sequence of length {layout.length}, got shape "
                         f"{tuple(tokens.shape)}")
    chars = {MASK_ID: "_", PLUS: "+", EQUALS: "="}
    chars.update({DIGIT0 + k: str(k) for k in range(10)})
    out = []
    for v in tokens.tolist():
        if v not in chars:
            raise ValueError(f"token id {v} is outside the addition vocabulary [0, {VOCAB_SIZE})")
        out.append(chars[v])
    return "".join(out)
