"""BernoulliSubset against brute-force enumeration of every subset of a 6-position row."""
import itertools
import math

import pytest
import torch
from torch.distributions import kl_divergence

from vi.subset import BernoulliSubset, log1mexp

L = 6


def all_masks(length: int = L) -> torch.Tensor:
    """`[2^length, length]` bool, every subset of the positions."""
    return torch.tensor(list(itertools.product([False, True], repeat=length)))


def brute(probs: torch.Tensor, available: torch.Tensor):
    """Enumerated P(S) over non-empty S inside `available`, straight from the definition
    (products of p_i and 1 - p_j in float64, then normalised by their sum)."""
    masks = all_masks()
    ok = (masks.any(-1)) & ~(masks & ~available).any(-1)
    masks = masks[ok]
    p = probs.double()
    weight = torch.where(masks, p, 1 - p)
    weight = torch.where(available, weight, torch.ones_like(weight)).prod(-1)
    return masks, weight / weight.sum()


def cases():
    """(probs [L], available [L]) rows with 1..5 available positions and varied probs."""
    g = torch.Generator().manual_seed(0)
    out = []
    for n_avail in range(1, 6):
        for _ in range(3):
            avail = torch.zeros(L, dtype=torch.bool)
            avail[torch.randperm(L, generator=g)[:n_avail]] = True
            probs = torch.rand(L, generator=g, dtype=torch.float64) * 0.98 + 0.01
            out.append((probs, avail))
    return out


@pytest.mark.parametrize("probs,avail", cases())
def test_log_prob_normalised_and_matches_definition(probs, avail):
    d = BernoulliSubset(probs=probs, available=avail)
    masks, expected = brute(probs, avail)
    lp = d.log_prob(masks)
    assert torch.allclose(lp.exp().sum(), torch.tensor(1.0, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(lp.exp(), expected, atol=1e-12)


def test_invalid_values_get_minus_infinity():
    avail = torch.tensor([True, True, False, True, False, False])
    d = BernoulliSubset(probs=torch.full((L,), 0.3), available=avail)
    empty = torch.zeros(L, dtype=torch.bool)
    outside = torch.tensor([True, False, True, False, False, False])
    assert d.log_prob(empty) == -math.inf
    assert d.log_prob(outside) == -math.inf
    # A row with nothing available is the point mass on the empty set.
    done = BernoulliSubset(probs=torch.full((L,), 0.3), available=torch.zeros(L, dtype=torch.bool))
    assert done.log_prob(empty) == 0.0
    assert done.log_prob(outside) == -math.inf
    assert done.sample().sum() == 0
    assert done.entropy() == 0.0 and done.marginals().sum() == 0.0
    assert kl_divergence(done, done) == 0.0


@pytest.mark.parametrize("probs,avail", cases()[::2])
def test_marginals_entropy_kl_match_enumeration(probs, avail):
    g = torch.Generator().manual_seed(1)
    other = torch.rand(L, generator=g, dtype=torch.float64) * 0.98 + 0.01
    q = BernoulliSubset(probs=probs, available=avail)
    p = BernoulliSubset(probs=other, available=avail)
    masks, wq = brute(probs, avail)
    _, wp = brute(other, avail)
    assert torch.allclose(q.marginals(), (wq[:, None] * masks).sum(0), atol=1e-12)
    assert torch.allclose(q.entropy(), -(wq * wq.log()).sum(), atol=1e-12)
    assert torch.allclose(kl_divergence(q, p), (wq * (wq.log() - wp.log())).sum(), atol=1e-12)


def test_sampling_frequencies_match_log_prob():
    """200k draws of a batch of three rows; every subset's frequency within 5 binomial
    standard errors of exp(log_prob) (the largest |z| is 2.5 at this seed)."""
    probs = torch.tensor([[0.3, 0.05, 0.6, 0.2, 0.9, 0.5],
                          [0.02, 0.03, 0.01, 0.5, 0.04, 0.05],
                          [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]], dtype=torch.float64)
    avail = torch.tensor([[True, True, True, False, True, False],
                          [True, True, True, False, True, True],
                          [False, False, True, False, False, False]])
    d = BernoulliSubset(probs=probs, available=avail)
    n = 200_000
    draws = d.sample((n,), generator=torch.Generator().manual_seed(2))   # [n, 3, L]
    assert draws.shape == (n, 3, L) and draws.dtype == torch.bool
    assert torch.isfinite(d.log_prob(draws)).all()
    codes = (draws.long() * (2 ** torch.arange(L))).sum(-1)               # [n, 3]
    masks = all_masks().flip(-1)                                          # bit i = position i
    masks_codes = (masks.long() * (2 ** torch.arange(L))).sum(-1)
    for row in range(3):
        expected = d.log_prob(masks[:, None, :].expand(-1, 3, -1))[:, row].exp()
        counts = torch.bincount(codes[:, row], minlength=2 ** L)[masks_codes].double()
        se = (expected * (1 - expected) / n).sqrt().clamp(min=1e-12)
        z = (counts / n - expected) / se
        assert z.abs().max() < 5.0, (row, z.abs().max())
        assert counts[expected == 0].sum() == 0


def test_same_generator_seed_same_draws():
    d = BernoulliSubset(probs=torch.full((2, L), 0.4), available=torch.ones(2, L, dtype=torch.bool))
    a = d.sample((5,), generator=torch.Generator().manual_seed(3))
    b = d.sample((5,), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_extreme_probabilities_stay_finite(dtype):
    avail = torch.tensor([True, True, True, True, False, False])
    tiny = torch.full((L,), 1e-8, dtype=dtype)
    sure = torch.full((L,), 1 - 1e-8, dtype=dtype)
    mixed = torch.tensor([1e-8, 1 - 1e-8, 1e-8, 0.5, 0.5, 0.5], dtype=dtype)
    for probs in (tiny, sure, mixed):
        logits = torch.logit(probs.double().clamp(1e-12, 1 - 1e-12)).to(dtype).requires_grad_()
        d = BernoulliSubset(logits=logits, available=avail)
        other = BernoulliSubset(logits=logits.detach().flip(-1), available=avail)
        values = [d.log_normalizer, d.entropy(), d.marginals(), kl_divergence(d, other),
                  d.log_prob(d.sample((50,)))]
        for v in values:
            assert torch.isfinite(v).all(), (probs, v)
        (d.entropy() + kl_divergence(d, other) + d.log_prob(d.sample((4,))).sum()).backward()
        assert torch.isfinite(logits.grad).all()
    # In float64, all p = 1e-8: Z = 1 - (1 - 1e-8)^4 ~ 4e-8, every singleton ~ 1/4.
    d = BernoulliSubset(probs=tiny.double(), available=avail)
    assert abs(d.log_normalizer.item() - math.log(4e-8)) < 1e-6
    single = torch.tensor([True, False, False, False, False, False])
    assert abs(d.log_prob(single).exp().item() - 0.25) < 1e-6
    assert torch.allclose(d.marginals()[:4], torch.full((4,), 0.25, dtype=torch.float64), atol=1e-6)


def test_log1mexp_accuracy():
    a = torch.tensor([-1e-20, -1e-8, -0.5, -1.0, -50.0], dtype=torch.float64)
    expected = torch.tensor([math.log(1e-20), math.log(-math.expm1(-1e-8)),
                             math.log(-math.expm1(-0.5)), math.log(1 - math.exp(-1.0)),
                             math.log1p(-math.exp(-50.0))], dtype=torch.float64)
    assert torch.allclose(log1mexp(a), expected, rtol=1e-12)


def test_deterministic_choice():
    avail = torch.tensor([[True, True, True, False], [True, True, False, False],
                          [False, False, False, False]])
    probs = torch.tensor([[0.6, 0.2, 0.9, 0.99], [0.1, 0.3, 0.99, 0.2], [0.9, 0.9, 0.9, 0.9]])
    chosen = BernoulliSubset(probs=probs, available=avail).deterministic()
    assert chosen.tolist() == [[True, False, True, False], [False, True, False, False],
                               [False, False, False, False]]


def test_shapes_and_expand():
    d = BernoulliSubset(logits=torch.zeros(3, L), available=torch.ones(3, L, dtype=torch.bool))
    assert d.batch_shape == (3,) and d.event_shape == (L,)
    e = d.expand((2, 3))
    assert e.batch_shape == (2, 3) and e.sample().shape == (2, 3, L)
    assert d.support.check(d.sample((7,))).all()
