"""Fast-dLLM factor rule: the largest n with (n + 1)(1 - c(n)) < f, at least one."""
from __future__ import annotations

import pytest
import torch

from planner.policies.factor import FactorBudget, FactorRule
from planner.policies.factor_margin import MarginFactorRule
from policy_fixtures import make_ctx, probs_with_confidence

# confidences at positions 0..4; sorted descending: .99 (pos 3), .95 (0), .9 (4), .7 (1), .5 (2)
CONF = [0.95, 0.7, 0.5, 0.99, 0.9]
# (n + 1)(1 - c(n)): n=1: 2 * .01 = .02   n=2: 3 * .05 = .15   n=3: 4 * .1 = .4
#                    n=4: 5 * .3 = 1.5    n=5: 6 * .5 = 3.0
CASES = [(0.01, {3}),            # no n qualifies: at least one, the most confident
         (0.1, {3}),             # n = 1
         (0.2, {3, 0}),          # n = 2
         (1.0, {3, 0, 4}),       # n = 3 (the default f)
         (2.0, {3, 0, 4, 1}),    # n = 4
         (3.5, {3, 0, 4, 1, 2})]  # n = 5


@pytest.mark.parametrize("f,expected", CASES)
def test_factor_n(f, expected):
    ctx = make_ctx(probs_with_confidence(CONF))
    chosen = FactorRule(f=f).select(ctx, None).chosen
    assert set(torch.nonzero(chosen[0]).squeeze(1).tolist()) == expected


def test_unmasked_positions_are_not_counted():
    """With position 3 (.99) already revealed the order is .95, .9, .7, .5:
    n=1: 2 * .05 = .1, n=2: 3 * .1 = .3, n=3: 4 * .3 = 1.2; so f = 1 gives n = 2."""
    masked = torch.tensor([[True, True, True, False, True]])
    ctx = make_ctx(probs_with_confidence(CONF), masked=masked)
    chosen = FactorRule(f=1.0).select(ctx, None).chosen
    assert set(torch.nonzero(chosen[0]).squeeze(1).tolist()) == {0, 4}


def test_margin_factor_ranks_and_tests_the_margin():
    """The margin rule: rank by p(v1) - p(v2) and test (n + 1)(1 - m(n)) < f. Position 0 is the
    most confident (.6) but its runner-up is close (.4): margin .2, ranked last."""
    probs = torch.tensor([[[0.0, 0.6, 0.4, 0.0],      # margin .2
                           [0.0, 0.5, 0.05, 0.45],    # margin .05
                           [0.0, 0.55, 0.0, 0.45],    # margin .1
                           [0.0, 0.45, 0.1, 0.45],    # margin 0
                           [0.0, 0.5, 0.15, 0.35]]])  # margin .15
    ctx = make_ctx(probs)
    # by margin: pos 0 (.2), 4 (.15), 2 (.1), 1 (.05), 3 (0)
    # (n + 1)(1 - m(n)): n=1: 2 * .8 = 1.6   n=2: 3 * .85 = 2.55   n=3: 4 * .9 = 3.6
    #                    n=4: 5 * .95 = 4.75  n=5: 6 * 1 = 6
    for f, expected in [(1.0, {0}), (2.0, {0}), (3.0, {0, 4}), (4.0, {0, 4, 2}), (5.0, {0, 4, 2, 1}),
                        (7.0, set(range(5)))]:
        chosen = MarginFactorRule(f=f).select(ctx, None).chosen
        assert set(torch.nonzero(chosen[0]).squeeze(1).tolist()) == expected, f
    # the confidence rule on the same state ranks 0 (.6), 2 (.55), then 1 and 4 (.5); at f = 1.9:
    # n=1: 2 * .4 = .8, n=2: 3 * .45 = 1.35, n=3: 4 * .5 = 2 (> 1.9; the boundary f = 2 is
    # tested exactly in test_conformance_boundaries.py)
    assert set(torch.nonzero(FactorRule(f=1.9).select(ctx, None).chosen[0]).squeeze(1).tolist()) == {0, 2}


def test_factor_budget_names_an_unknown_score():
    with pytest.raises(ValueError, match=r"score must be one of \['confidence', 'margin'\], got 'entropy'"):
        FactorBudget(1.0, score="entropy")
