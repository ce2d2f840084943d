"""EB-sampler: the largest prefix U of the proxy order with sum_U H - max_U H <= gamma."""
from __future__ import annotations

import math

import pytest
import torch

from planner.policies.eb import EBSampler
from policy_fixtures import make_ctx

# Five distributions over {mask, 1, 2, 3} and their entropies (nats), by hand:
#   [0, 1, 0, 0]       H = 0
#   [0, .99, .01, 0]   H = .99 ln(1/.99) + .01 ln 100      = 0.00995 + 0.04605 = 0.0560
#   [0, .9, .1, 0]     H = .9 ln(1/.9) + .1 ln 10          = 0.0948 + 0.2303  = 0.3251
#   [0, .5, .5, 0]     H = ln 2                                                = 0.6931
#   [0, 1/3, 1/3, 1/3] H = ln 3                                                = 1.0986
# placed at positions 3, 0, 4, 1, 2 (so position order is not the entropy order).
DISTS = {3: [0, 1, 0, 0], 0: [0, .99, .01, 0], 4: [0, .9, .1, 0], 1: [0, .5, .5, 0],
         2: [0, 1 / 3, 1 / 3, 1 / 3]}
# Prefixes in entropy order 3, 0, 4, 1, 2 and sum - max:
#   {3}: 0    {3,0}: 0.0560 - 0.0560 = 0    {3,0,4}: 0.3811 - 0.3251 = 0.0560
#   {3,0,4,1}: 1.0742 - 0.6931 = 0.3811    all five: 2.1728 - 1.0986 = 1.0742
EXPECTED = [(0.0, {3, 0}), (0.01, {3, 0}), (0.06, {3, 0, 4}), (0.4, {3, 0, 4, 1}),
            (1.07, {3, 0, 4, 1}), (1.08, {3, 0, 4, 1, 2}), (math.inf, {3, 0, 4, 1, 2})]


def ctx_for(dists: dict, masked=None):
    probs = torch.tensor([[dists[i] for i in range(len(dists))]])
    return make_ctx(probs, masked=masked)


def chosen_set(policy, ctx) -> set[int]:
    chosen = policy.select(ctx, policy.init_state(ctx.initial_masked, None)).chosen
    return set(torch.nonzero(chosen[0]).squeeze(1).tolist())


def test_entropies_are_as_computed_by_hand():
    h = ctx_for(DISTS).entropy[0]
    assert h.dtype == torch.float64
    assert torch.allclose(h.float(), torch.tensor([0.0560, 0.6931, 1.0986, 0.0, 0.3251]), atol=1e-4)


@pytest.mark.parametrize("gamma,expected", EXPECTED)
def test_exact_prefix(gamma, expected):
    assert chosen_set(EBSampler(gamma=gamma), ctx_for(DISTS)) == expected


def test_only_masked_positions_count():
    """Unmask position 3 (H = 0): at gamma 0.06 the prefix is then {0, 4} (0.0560 + 0.3251 -
    0.3251 = 0.0560), and with 1 added 0.3811 > 0.06."""
    masked = torch.tensor([[True, True, True, False, True]])
    assert chosen_set(EBSampler(gamma=0.06), ctx_for(DISTS, masked)) == {0, 4}


# Two positions where the entropy order and the confidence order disagree:
#   position 0: [0, .6, .4, 0, 0]     H = .6 ln(1/.6) + .4 ln(1/.4) = 0.3065 + 0.3665 = 0.6730, p(v1) .6
#   position 1: [0, .7, .1, .1, .1]   H = .7 ln(1/.7) + 3 (.1 ln 10) = 0.2497 + 0.6908 = 0.9405, p(v1) .7
TWO = {0: [0, .6, .4, 0, 0], 1: [0, .7, .1, .1, .1]}


@pytest.mark.parametrize("proxy,expected", [("entropy", {0}), ("confidence", {1}), ("margin", {1})])
def test_proxy_decides_the_order(proxy, expected):
    # gamma 0.5 < 0.6730 = the smaller entropy, so exactly one, the first in the proxy order
    assert chosen_set(EBSampler(gamma=0.5, proxy=proxy), ctx_for(TWO)) == expected


def test_bound_uses_the_max_over_the_prefix_not_its_last_element():
    """Confidence order is 1 then 0; the prefix {1, 0} has sum - max = 0.9405 + 0.6730 - 0.9405
    = 0.6730 (the max is the first element): within gamma 0.7, beyond 0.6."""
    assert chosen_set(EBSampler(gamma=0.7, proxy="confidence"), ctx_for(TWO)) == {0, 1}
    assert chosen_set(EBSampler(gamma=0.6, proxy="confidence"), ctx_for(TWO)) == {1}
