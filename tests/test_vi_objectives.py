"""The peers' objectives (vi/objectives/, issue 17) against exact or brute-force computations on
the toy of tests/test_vi_estimators.py (the exact conditionals of a random joint over {0, 1}^4):

- GRPO: the mean of its gradient draws against the exact expected GRPO gradient, by listing
  every trajectory (ordered partition, greedy fills) and every group of G trajectories;
- oracle imitation: its (deterministic) loss and gradient against an independent
  computation: the oracle's margins from the denoiser's full conditionals, the subset
  probability normalised by listing every non-empty subset, the pairs by loops;
- LO-ARM: the RB+LOO estimator on singleton networks against `vi.exact`'s objective, whose
  enumeration then puts weight 0 on every block of several positions.
Draws use fixed seeds; a mean is accepted within 4 standard errors, as for the VI estimators.
"""
import itertools
import math

import pyro
import pytest
import torch
from torch.distributions import kl_divergence

from vi import OrderModel, PosteriorNet, PriorNet, exact_terms, ordered_partitions
from vi.objectives import GRPO, LOARM_ELBO, OracleImitation
from vi.singleton import SingletonSubset
from vi.toy import TINY_NET, JointTableDenoiser, tiny_order_model

# at most 3 masked positions per row, so that every group of 3 trajectories can be listed
X = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]])
MASKED = torch.tensor([[True, True, True, False], [False, True, True, True],
                       [True, False, False, True]])
BETA = 0.2


def flat_grad(params) -> torch.Tensor:
    return torch.cat([torch.zeros(p.numel()) if p.grad is None else p.grad.flatten()
                      for p in params])


def z_scores(draws: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    se = draws.std(0) / math.sqrt(draws.shape[0])
    return (draws.mean(0) - expected) / se


def directions_for(exact: torch.Tensor) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.cat([exact[None] / exact.norm(), torch.randn(5, exact.numel(), generator=g)])


# ------------------------------------------------------------------------------ SingletonSubset
def test_singleton_subset_closed_forms_match_enumeration():
    g = torch.Generator().manual_seed(3)
    logits_q, logits_p = torch.randn(2, 5, generator=g), torch.randn(2, 5, generator=g)
    available = torch.tensor([[True, False, True, True, False], [False] * 5])
    q = SingletonSubset(logits=logits_q, available=available)
    p = SingletonSubset(logits=logits_p, available=available)
    singles = torch.eye(5, dtype=torch.bool)
    lq = q.log_prob(singles[:, None, :].expand(5, 2, 5))                     # [5, 2]
    assert torch.allclose(lq[available[0], 0].exp().sum(), torch.tensor(1.0))
    assert torch.isinf(lq[~available[0], 0]).all()
    two = torch.tensor([True, False, True, False, False])
    assert torch.isinf(q.log_prob(two.expand(2, 5))[0])
    assert q.log_prob(torch.zeros(2, 5, dtype=torch.bool))[1] == 0        # the empty row
    probs = lq[available[0], 0].exp()
    assert torch.allclose(q.entropy()[0], -(probs * probs.log()).sum())
    lp = p.log_prob(singles[:, None, :].expand(5, 2, 5))[available[0], 0]
    assert torch.allclose(kl_divergence(q, p)[0], (probs * (probs.log() - lp)).sum())
    assert q.entropy()[1] == 0 and kl_divergence(q, p)[1] == 0
    assert torch.allclose(q.marginals()[0, available[0]], probs)
    draws = q.sample((4000,), generator=torch.Generator().manual_seed(1))
    assert (draws[:, 0].sum(-1) == 1).all() and not draws[:, 1].any()
    assert torch.allclose(draws[:, 0].float().mean(0)[available[0]], probs, atol=0.03)
    assert q.deterministic(0.99)[0].nonzero().squeeze().item() == int(
        logits_q[0].masked_fill(~available[0], -math.inf).argmax())


def test_singleton_subset_refuses_probs_and_bad_masks():
    with pytest.raises(ValueError, match="logits"):
        SingletonSubset(probs=torch.rand(3), available=torch.ones(3, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        SingletonSubset(logits=torch.zeros(3), available=torch.ones(3))


# ------------------------------------------------------------------------------------ GRPO
def greedy_trajectory(order: OrderModel, x, m0, partition, beta):
    """The states, drawn sets and final tokens of one ordered partition with greedy fills."""
    tokens, left = x.clone(), m0.clone()
    states, sets = [], []
    for block in partition:
        state = order.state(torch.where(left, x, tokens)[None], left[None], m0[None],
                            torch.tensor([beta]))
        r = torch.zeros_like(left)
        r[list(block)] = True
        tokens = torch.where(r, state.denoised.argmax[0], tokens)
        states.append(state)
        sets.append(r)
        left = left & ~r
    return states, sets, tokens


def exact_grpo_surrogate(order, estimator, x, masked, beta):
    """The exact expectation of GRPO's surrogate over its rollouts (a differentiable scalar
    whose gradient is the exact expected gradient), by listing every group of G."""
    total = 0.0
    G = estimator.group
    for b in range(x.shape[0]):
        positions = masked[b].nonzero().squeeze(1).tolist()
        logp, reward, kl = [], [], []
        for part in ordered_partitions(positions):
            states, sets, tokens = greedy_trajectory(order, x[b], masked[b], part, beta)
            lp = sum(order.prior.distribution(s).log_prob(r[None])[0] for s, r in zip(states, sets))
            kl.append(sum(kl_divergence(order.prior.distribution(s),
                                        estimator.reference.distribution(s))[0] for s in states)
                      if estimator.kl_weight else torch.zeros(()))
            logp.append(lp)
            n = int(masked[b].sum())
            acc = float(((tokens == x[b]) & masked[b]).sum()) / n
            solved = float(((tokens == x[b]) | ~masked[b]).all())
            base = acc if estimator.reward == "accuracy" else solved
            horizon = estimator.horizon or x.shape[1]
            reward.append(base * (1 - len(part) / horizon) ** estimator.alpha)
        logp, kl, reward = torch.stack(logp), torch.stack(kl), torch.tensor(reward)
        prob = logp.detach().exp()
        assert abs(float(prob.sum()) - 1) < 1e-4
        for group in itertools.product(range(len(reward)), repeat=G):
            idx = torch.tensor(group)
            r = reward[idx]
            adv = r - r.mean()
            if estimator.normalise_std:
                adv = adv / (r.std(unbiased=False) + estimator.eps)
            weight = prob[idx].prod()
            total = total + weight * (adv * logp[idx]).sum() / G
        total = total - estimator.kl_weight * (prob * kl).sum()
    return total


@pytest.mark.parametrize("settings", [dict(reward="accuracy", kl_weight=0.3, horizon=4),
                                      dict(reward="solved", alpha=0.5)])
def test_grpo_gradient_matches_the_exact_expectation(settings):
    order = tiny_order_model(seed=5)
    params = list(order.prior.parameters())
    estimator = GRPO(group=3, **settings)
    if estimator.kl_weight:   # a reference that differs from the prior: another generic point
        estimator.reference = tiny_order_model(seed=6).prior.requires_grad_(False)
    exact = exact_grpo_surrogate(order, estimator, X, MASKED, BETA)
    exact_grad = torch.cat([g.flatten() for g in torch.autograd.grad(-exact, params)])
    pyro.clear_param_store()
    pyro.set_rng_seed(2)
    grads = []
    for _ in range(300):
        for p in params:
            p.grad = None
        estimator.loss_and_grads(order.model, order.guide, X, MASKED, beta=BETA)
        grads.append(flat_grad(params))
    grads = torch.stack(grads)
    assert exact_grad.norm() > 1e-3
    d = directions_for(exact_grad)
    z = z_scores(grads @ d.T, d @ exact_grad)
    assert z.abs().max() < 4.0, z
    assert set(estimator.last_stats) >= {"reward", "solved", "accuracy", "steps"}


def test_grpo_refuses_bad_settings():
    with pytest.raises(ValueError, match="group must be an integer >= 2.*1"):
        GRPO(group=1)
    with pytest.raises(ValueError, match="reward must be one of.*'exact'"):
        GRPO(reward="exact")
    with pytest.raises(ValueError, match="alpha must be a number >= 0, got -1"):
        GRPO(alpha=-1)
    with pytest.raises(TypeError, match="OrderModel.model"):
        GRPO().loss(lambda *a, **k: None, None, X, MASKED)


# ------------------------------------------------------------------------------- imitation
def brute_force_imitation(order: OrderModel, x, masked, threshold, rank_weight, gap, beta):
    """The imitation loss from the denoiser's full conditionals, without vi.objectives."""
    total = 0.0
    den = order.denoiser.model
    for b in range(x.shape[0]):
        left = masked[b].clone()
        while left.any():
            tokens = torch.where(left, torch.full_like(x[b], den.mask_id), x[b])
            probs = den(tokens[None]).logits[0, :, :den.n_tokens].softmax(-1)     # [N, V]
            true = probs.gather(-1, x[b][:, None]).squeeze(-1)
            other = probs.scatter(-1, x[b][:, None], -1.0).max(-1).values
            g = true - other
            idx = left.nonzero().squeeze(1).tolist()
            chosen = [i for i in idx if g[i] > threshold] or [max(idx, key=lambda i: g[i])]
            state = order.state(x[b][None], left[None], masked[b][None], torch.tensor([beta]))
            logits = order.prior(state)[0]
            p = torch.sigmoid(logits)

            def weight(subset):
                return torch.stack([p[i] if i in subset else 1 - p[i] for i in idx]).prod()

            z = sum(weight(s) for n in range(1, len(idx) + 1)
                    for s in itertools.combinations(idx, n))
            total = total - torch.log(weight(set(chosen)) / z)
            pairs = [(i, j) for i in idx for j in idx if g[i] > g[j] + gap]
            if pairs and rank_weight:
                total = total + rank_weight * sum(torch.nn.functional.softplus(logits[j] - logits[i])
                                                  for i, j in pairs) / len(pairs)
            left = left.clone()
            left[chosen] = False
    return total


@pytest.mark.parametrize("threshold", [0.2, 0.9])
def test_imitation_loss_and_gradient_match_brute_force(threshold):
    order = tiny_order_model(seed=9)
    params = list(order.prior.parameters())
    estimator = OracleImitation(oracle_threshold=threshold, rank_weight=0.7, rank_gap=0.05)
    expected = brute_force_imitation(order, X, MASKED, threshold, 0.7, 0.05, BETA)
    expected_grad = torch.cat([g.flatten() for g in torch.autograd.grad(expected, params)])
    pyro.clear_param_store()
    for p in params:
        p.grad = None
    loss = estimator.loss_and_grads(order.model, order.guide, X, MASKED, beta=BETA)
    assert loss == pytest.approx(float(expected.detach()), rel=1e-5)
    assert torch.allclose(flat_grad(params), expected_grad, rtol=1e-4, atol=1e-6)
    assert expected_grad.norm() > 1e-3


def test_imitation_refuses_bad_settings():
    with pytest.raises(ValueError, match="oracle_threshold must be a number in \\(-1, 1\\).*1.5"):
        OracleImitation(oracle_threshold=1.5)
    with pytest.raises(ValueError, match="rank_weight must be a number >= 0, got -0.1"):
        OracleImitation(rank_weight=-0.1)


# ---------------------------------------------------------------------------------- LO-ARM
def singleton_order_model(seed: int) -> OrderModel:
    torch.manual_seed(seed)
    denoiser = JointTableDenoiser.random(2, 4, seed=seed)
    prior = PriorNet(3, 4, family="singleton", **TINY_NET)
    posterior = PosteriorNet(3, 4, family="singleton", **TINY_NET)
    with torch.no_grad():
        for net in (prior, posterior):
            net.head.weight.normal_(0, 0.7)
            net.head.bias.normal_(0, 1.0)
    return OrderModel(denoiser, prior, posterior)


ALL_MASKED = torch.tensor([[True, True, True, True], [False, True, True, True],
                           [True, False, False, True]])


def test_loarm_matches_the_exact_one_per_step_objective_and_gradient():
    order = singleton_order_model(seed=4)
    params = list(order.parameters())
    settings = dict(beta=0.3, kl_scale=0.5, entropy_weight=0.2)
    exact = exact_terms(order, X, ALL_MASKED, **settings)
    assert torch.allclose(exact.expected_steps, ALL_MASKED.sum(-1).float())   # one per step
    exact_grad = torch.autograd.grad(-exact.objective.sum(), params, allow_unused=True)
    exact_grad = torch.cat([torch.zeros(p.numel()) if g is None else g.flatten()
                            for p, g in zip(params, exact_grad)])
    pyro.clear_param_store()
    pyro.set_rng_seed(11)
    estimator = LOARM_ELBO(num_particles=3)
    losses, grads = [], []
    for _ in range(60):
        for p in params:
            p.grad = None
        losses.append(estimator.loss_and_grads(order.model, order.guide, X, ALL_MASKED, **settings))
        grads.append(flat_grad(params))
    losses, grads = torch.tensor(losses), torch.stack(grads)
    assert abs(z_scores(losses[:, None], -exact.objective.sum()[None].detach()).item()) < 4.0
    d = directions_for(exact_grad)
    z = z_scores(grads @ d.T, d @ exact_grad)
    assert z.abs().max() < 4.0, z
    assert estimator.last_stats["steps"] == pytest.approx(float(ALL_MASKED.sum(-1).float().mean()))


def test_loarm_refuses_a_bernoulli_planner():
    order = tiny_order_model(seed=1)
    pyro.clear_param_store()
    with pytest.raises(TypeError, match="must be a SingletonSubset in the guide, got BernoulliSubset"):
        LOARM_ELBO(num_particles=2).loss(order.model, order.guide, X, ALL_MASKED, beta=0.1)
