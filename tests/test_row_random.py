"""Per-row random streams (`planner.row_random`, `sample(seeds=)`): a row's draws depend on its
own seed and positions only, not on the rows beside it, their order, or its padding; bad seeds
are refused by value."""
from __future__ import annotations

import pytest
import torch

import planner
from planner.row_random import RowStreams, check_seeds, derive_seed
from planner.tokens import choose_tokens
from policy_fixtures import ToyDenoiser

LENGTH = 12


def padded(real: int, left: int = 0) -> torch.Tensor:
    """`[LENGTH]` bool padding: `left` padding positions, `real` real ones, the rest padding."""
    pad = torch.ones(LENGTH, dtype=torch.bool)
    pad[left:left + real] = False
    return pad


def test_a_rows_uniform_draws_do_not_depend_on_the_other_rows():
    alone = RowStreams([7], 1, LENGTH).uniform([0], (1, LENGTH, 3))
    batch = RowStreams([1, 7, 2], 3, LENGTH).uniform([0, 1, 2], (3, LENGTH, 3))
    reordered = RowStreams([7, 5], 2, LENGTH).uniform([1, 0], (2, LENGTH, 3))
    assert torch.equal(batch[1], alone[0]) and torch.equal(reordered[1], alone[0])
    assert not torch.equal(batch[0], batch[1])          # other seeds, other numbers


def test_finished_rows_leaving_does_not_move_the_others():
    """A step's active rows are a subset: a row that left takes no numbers from the rest."""
    streams, single = RowStreams([3, 4, 9], 3, LENGTH), RowStreams([9], 1, LENGTH)
    first = streams.uniform([0, 1, 2], (3, LENGTH))
    second = streams.uniform([2], (1, LENGTH))           # rows 0 and 1 have finished
    assert torch.equal(first[2], single.uniform([0], (1, LENGTH))[0])
    assert torch.equal(second[0], single.uniform([0], (1, LENGTH))[0])


def test_a_row_draws_the_same_numbers_at_its_real_positions_whatever_the_padding():
    real = 7
    alone = RowStreams([11], 1, real).uniform([0], (1, real))[0]
    for left in (0, 2, 5):
        pad = torch.stack([padded(real, left), padded(LENGTH)])
        streams = RowStreams([11, 12], 2, LENGTH, pad)
        u = streams.uniform([0, 1], (2, LENGTH))
        assert torch.equal(u[0, ~pad[0]], alone), f"left padding {left}"
        assert (u[0, pad[0]] == 0.5).all()
        steps = RowStreams([11, 12], 2, LENGTH, pad).randint([0, 1], 5, (2, LENGTH))
        assert torch.equal(steps[0, ~pad[0]], RowStreams([11], 1, real).randint([0], 5, (1, real))[0])


def test_where_leaves_the_other_rows_streams_unmoved():
    streams = RowStreams([1, 2], 2, LENGTH)
    u = streams.uniform([0, 1], (2, LENGTH), where=torch.tensor([False, True]))
    assert (u[0] == 0.5).all()
    fresh = RowStreams([1, 2], 2, LENGTH)
    assert torch.equal(streams.uniform([0], (1, LENGTH)), fresh.uniform([0], (1, LENGTH)))


def test_the_row_generator_is_the_rows_own():
    streams = RowStreams([5, 6], 2, LENGTH)
    assert torch.equal(torch.rand(4, generator=streams.generator(1)),
                       torch.rand(4, generator=torch.Generator().manual_seed(6)))


def test_sampled_tokens_are_per_row():
    logits = torch.randn(3, LENGTH, 6, generator=torch.Generator().manual_seed(0))
    batch = choose_tokens(logits, 1.0, streams=RowStreams([4, 5, 6], 3, LENGTH),
                          rows=torch.arange(3))
    alone = choose_tokens(logits[2:], 1.0, streams=RowStreams([6], 1, LENGTH),
                          rows=torch.tensor([0]))
    assert torch.equal(batch[2], alone[0])
    assert not torch.equal(choose_tokens(logits, 1.0, streams=RowStreams([7, 8, 9], 3, LENGTH),
                                         rows=torch.arange(3)), batch)


def test_sample_with_seeds_is_per_row_and_reproducible():
    den = ToyDenoiser(length=LENGTH)
    x = torch.zeros(4, LENGTH, dtype=torch.long)
    x[:, 0] = torch.tensor([1, 2, 3, 4])
    a = planner.sample(den, "random_k", x, seeds=[10, 11, 12, 13], temperature=1.0)
    b = planner.sample(den, "random_k", x[2:3], seeds=[12], temperature=1.0)
    assert torch.equal(a.tokens[2], b.tokens[0]) and torch.equal(a.order[2], b.order[0])
    c = planner.sample(den, "random_k", x, seeds=torch.tensor([10, 11, 12, 13]), temperature=1.0)
    assert torch.equal(a.tokens, c.tokens)


@pytest.mark.parametrize("seeds, error, message", [
    ([0, -1], ValueError, r"seeds\[1\] must be an integer in \[0, 2\*\*63\), got -1"),
    ([0, 1.5], ValueError, r"seeds\[1\] must be an integer .* got 1.5"),
    ([True, 0], ValueError, r"seeds\[0\] must be an integer .* got True"),
    ([2 ** 63, 0], ValueError, r"seeds\[0\] must be an integer .* got 9223372036854775808"),
    ([1, 2, 3], ValueError, r"seeds has 3 entries; expected one per row \(2\)"),
    (torch.tensor([0.0, 1.0]), TypeError, "seeds must hold integers, got a tensor of dtype torch.float32"),
    (torch.zeros(2, 1, dtype=torch.long), ValueError, r"seeds must be 1-D, one seed per row, got shape \(2, 1\)"),
    ("01", TypeError, "seeds must be a LongTensor \\[batch\\] or a list of ints, one per row, got str"),
    (7, TypeError, "seeds must be a LongTensor .* got int"),
])
def test_bad_seeds_are_refused_by_value(seeds, error, message):
    with pytest.raises(error, match=message):
        check_seeds(seeds, 2)
    den = ToyDenoiser(length=LENGTH)
    with pytest.raises(error, match=message):
        planner.sample(den, "random_k", torch.zeros(2, LENGTH, dtype=torch.long), seeds=seeds)


def test_a_draw_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"\[rows, length, \.\.\.\] = \[2, 12, \.\.\.\], got \[2, 5\]"):
        RowStreams([0, 1], 2, LENGTH).uniform([0, 1], (2, 5))


def test_generator_and_seeds_are_not_both_taken():
    with pytest.raises(ValueError, match="not both"):
        planner.sample(ToyDenoiser(length=LENGTH), "random_k", torch.zeros(1, LENGTH, dtype=torch.long),
                       seeds=[0], generator=torch.Generator().manual_seed(0))


def test_derived_seeds_are_stable_and_per_prompt():
    assert derive_seed(0, [1, 2, 3]) == 8039201830801555756       # the same in every process
    assert derive_seed(0, [1, 2, 3]) != derive_seed(0, [1, 2, 4]) != derive_seed(1, [1, 2, 4])
    with pytest.raises(ValueError, match="seed must be an integer in \\[0, 2\\*\\*63\\), got -3"):
        derive_seed(-3, [1])
