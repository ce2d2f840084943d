"""Vanilla ancestral sampling: uniform reveal bins, empty grid steps skipped."""
from __future__ import annotations

import math

import torch

from planner import sample
from planner.policies.random import VanillaAncestral
from policy_fixtures import ToyDenoiser, make_ctx

N_ROWS = 4000


def within(observed: torch.Tensor, mean: float, var: float, n: int, sds: float = 4.5):
    se = math.sqrt(var / n)
    got = float(observed.double().mean())
    assert abs(got - mean) <= sds * se, f"mean {got:.4f}, expected {mean:.4f} +- {sds * se:.4f}"


def test_first_grid_step_is_binomial():
    """At grid step 0 each of L masked positions unmasks with probability 1 - s/t = 1/T:
    the count is Binomial(L, 1/T), mean L/T, variance L (1/T)(1 - 1/T)."""
    L, T = 12, 5
    bins = VanillaAncestral(steps=T).init_state(torch.ones(N_ROWS, L, dtype=torch.bool),
                                                torch.Generator().manual_seed(0))
    assert bins.min() >= 0 and bins.max() <= T - 1
    within((bins == 0).sum(-1), L / T, L * (1 / T) * (1 - 1 / T), N_ROWS)


def test_first_denoiser_step_reveals_the_first_non_empty_grid_step():
    """With caching the first call reveals the positions at the smallest bin m. By hand:
    P(m = j, count = c) = C(L, c) (1/T)^c ((T - 1 - j)/T)^(L - c); its mean and variance."""
    L, T = 6, 8
    law = {}
    for j in range(T):
        for c in range(1, L + 1):
            p = math.comb(L, c) * (1 / T) ** c * ((T - 1 - j) / T) ** (L - c)
            law[c] = law.get(c, 0.0) + p
    assert math.isclose(sum(law.values()), 1.0)
    mean = sum(c * p for c, p in law.items())
    var = sum(c * c * p for c, p in law.items()) - mean ** 2
    policy = VanillaAncestral(steps=T)
    masked = torch.ones(N_ROWS, L, dtype=torch.bool)
    state = policy.init_state(masked, torch.Generator().manual_seed(1))
    ctx = make_ctx(torch.full((N_ROWS, L, 3), 0.5).index_fill(2, torch.tensor([0]), 0.0))
    within(policy.select(ctx, state).chosen.sum(-1), mean, var, N_ROWS)


def test_nfe_is_the_number_of_non_empty_bins():
    """E[NFE] = T (1 - (1 - 1/T)^L). Variance from the bin indicators: P(bin j non-empty) =
    p1 = 1 - (1 - 1/T)^L, P(j and k non-empty) = p2 = 1 - 2 (1 - 1/T)^L + (1 - 2/T)^L."""
    L, T = 12, 6
    p1 = 1 - (1 - 1 / T) ** L
    p2 = 1 - 2 * (1 - 1 / T) ** L + (1 - 2 / T) ** L
    mean = T * p1
    var = T * p1 * (1 - p1) + T * (T - 1) * (p2 - p1 ** 2)
    tokens = torch.zeros(N_ROWS, L, dtype=torch.long)
    result = sample(ToyDenoiser(), VanillaAncestral(steps=T), tokens,
                    generator=torch.Generator().manual_seed(2))
    assert (result.nfe <= T).all() and (result.nfe >= 1).all()
    within(result.nfe, mean, var, N_ROWS)


def test_one_grid_step_reveals_everything():
    tokens = torch.zeros(3, 12, dtype=torch.long)
    result = sample(ToyDenoiser(), VanillaAncestral(steps=1), tokens)
    assert (result.nfe == 1).all() and (result.order == 0).all()


def test_rows_keep_their_own_bins_when_others_finish():
    """The state is indexed by ctx.rows: a context holding only row 1 reads row 1's bins."""
    policy = VanillaAncestral(steps=10)
    state = policy.init_state(torch.ones(2, 4, dtype=torch.bool), torch.Generator().manual_seed(0))
    state[0] = torch.tensor([0, 0, 0, 0])
    state[1] = torch.tensor([7, 3, 9, 3])
    ctx = make_ctx(torch.full((1, 4, 3), 0.5).index_fill(2, torch.tensor([0]), 0.0), rows=[1])
    assert policy.select(ctx, state).chosen[0].tolist() == [False, True, False, True]
