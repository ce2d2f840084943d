"""StepSchedule counts, and the four score + StepSchedule policies' choices."""
from __future__ import annotations

import pytest
import torch

from planner import sample
from planner.budgets import StepSchedule
from planner.policies.entropy import LowestEntropy
from planner.policies.random_k import RandomK
from planner.policies.topk_margin import TopKMargin
from planner.policies.topk_prob import TopKProbability
from policy_fixtures import ToyDenoiser, make_ctx


def counts(schedule: StepSchedule, n0: int) -> list[int]:
    """Run the budget alone on n0 masked positions until none is left."""
    ks, n, step = [], n0, 0
    while n:
        masked = torch.tensor([[True] * n + [False] * (n0 - n)])
        ctx = make_ctx(torch.full((1, n0, 3), 0.5).index_fill(2, torch.tensor([0]), 0.0),
                       masked=masked, initial_masked=torch.ones(1, n0, dtype=torch.bool),
                       step=torch.tensor([step]))
        k = min(max(int(schedule(ctx, None, None)), 1), n)
        ks.append(k)
        n, step = n - k, step + 1
    return ks


def test_even():
    """10 over 4 steps: ceil(10/4) = 3, ceil(7/3) = 3, ceil(4/2) = 2, 2."""
    assert counts(StepSchedule(4, "even"), 10) == [3, 3, 2, 2]
    assert counts(StepSchedule(3, "even"), 3) == [1, 1, 1]
    assert counts(StepSchedule(5, "even"), 3) == [1, 1, 1]


def test_cosine():
    """Left after step s: floor(10 cos(pi/2 s/4)): cos 22.5 deg = .924 -> 9, cos 45 = .707 -> 7,
    cos 67.5 = .383 -> 3, 0; so 1, 2, 4, 3."""
    assert counts(StepSchedule(4, "cosine"), 10) == [1, 2, 4, 3]


def test_one_per_step():
    assert counts(StepSchedule(None), 5) == [1] * 5


# Three distributions over {mask, 1, 2, 3, 4} where the three orders differ:
#   a: [.6, .2, .2, 0]      p(v1) .6  margin .4   H = .3065 + 2(.3219)  = 0.9503
#   e: [.58, .14, .14, .14] p(v1) .58 margin .44  H = .3159 + 3(.2753)  = 1.1418
#   b: [.55, .45, 0, 0]     p(v1) .55 margin .1   H = .3288 + .3593     = 0.6881
PROBS = torch.tensor([[[0, .6, .2, .2, 0], [0, .58, .14, .14, .14], [0, .55, .45, 0, 0]]])


@pytest.mark.parametrize("policy_class,first,first_two", [
    (TopKProbability, {0}, {0, 1}),    # confidence: a, e, b
    (TopKMargin, {1}, {0, 1}),         # margin: e, a, b
    (LowestEntropy, {2}, {0, 2}),      # entropy ascending: b, a, e
])
def test_score_orders(policy_class, first, first_two):
    ctx = make_ctx(PROBS)
    assert set(torch.nonzero(policy_class().select(ctx, None).chosen[0]).squeeze(1).tolist()) == first
    # steps=2 with 3 masked: k = ceil(3/2) = 2
    chosen = policy_class(steps=2).select(ctx, None).chosen[0]
    assert set(torch.nonzero(chosen).squeeze(1).tolist()) == first_two


def test_random_k_counts_and_spread():
    """Random-k reveals exactly the schedule's counts, and every position is equally likely to
    go first: over 1200 rows of 12 masks each position comes first 100 times on average."""
    tokens = torch.zeros(1200, 12, dtype=torch.long)
    result = sample(ToyDenoiser(), RandomK(steps=4), tokens, generator=torch.Generator().manual_seed(0))
    assert (result.nfe == 4).all()
    per_step = torch.stack([(result.order == s).sum(-1) for s in range(4)], -1)
    assert (per_step == torch.tensor([3, 3, 3, 3])).all()
    first = (result.order == 0).sum(0).float()           # 3 per row: 300 expected per position...
    expected = 1200 * 3 / 12
    # ...binomial(1200, 1/4): sd 15; 4.5 sd
    assert ((first - expected).abs() <= 4.5 * (1200 * 0.25 * 0.75) ** 0.5).all()
