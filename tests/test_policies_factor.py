"""Fast-dLLM factor rule: the largest n with (n + 1)(1 - c(n)) < f, at least one."""
from __future__ import annotations

import pytest
import torch

from planner.policies.factor import FactorRule
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
