"""Exact checks of the order model on a toy problem small enough to enumerate.

The denoiser is `JointTableDenoiser`: the exact conditionals of a random joint over {0, 1}^4.
The exact log-likelihood, ELBO and objective come from `vi.exact` (every ordered partition);
these tests check them by independent routes: normalisation over all x, the chain rule, the
product of marginals, a posterior built by hand. tests/test_vi_estimators.py then checks
every stochastic estimator against them.
"""
import pytest
import torch

from vi import OrderModel, PosteriorNet, exact_terms, ordered_partitions
from vi.toy import TINY_NET, tiny_order_model

V, N = 2, 4


def all_completions(x0: torch.Tensor, masked: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Every x that agrees with x0 off `masked` (`[length]` each) -> `[n_tokens^|M0|, length]`."""
    positions = torch.nonzero(masked).squeeze(1)
    n = len(positions)
    values = torch.cartesian_prod(*[torch.arange(n_tokens)] * n).reshape(-1, n)
    xs = x0.repeat(values.shape[0], 1)
    xs[:, positions] = values
    return xs


def test_ordered_partition_counts():
    assert [len(ordered_partitions(range(n))) for n in range(1, 6)] == [1, 3, 13, 75, 541]
    for part in ordered_partitions([2, 5, 7]):
        blocks = [set(b) for b in part]
        assert all(blocks) and set().union(*blocks) == {2, 5, 7}
        assert sum(len(b) for b in blocks) == 3
    assert len(set(ordered_partitions(range(4)))) == 75


@pytest.mark.parametrize("n_tokens,length,masked", [
    (2, 4, [True, True, True, True]),
    (2, 4, [True, False, True, False]),
    (3, 3, [True, True, True]),
])
def test_generative_model_is_normalised(n_tokens, length, masked):
    """sum over every completion x of p_theta(x) = 1."""
    order = tiny_order_model(seed=1, n_tokens=n_tokens, length=length)
    masked = torch.tensor(masked)
    xs = all_completions(torch.zeros(length, dtype=torch.long), masked, n_tokens)
    with torch.no_grad():
        log_p = exact_terms(order, xs, masked.expand_as(xs)).log_likelihood
    assert abs(torch.logsumexp(log_p.double(), 0).item()) < 1e-5


def test_one_position_per_step_recovers_the_joint():
    """Prior logits -30: every step reveals one position (a uniformly random one, up to
    e^-30), and with exact conditionals any such order gives the joint (chain rule):
    p_theta(x) = joint(x | givens)."""
    order = tiny_order_model(seed=2, prior_logit=-30.0)
    denoiser = order.denoiser.model
    masked = torch.tensor([True, True, False, True])
    xs = all_completions(torch.tensor([0, 0, 1, 0]), masked, V)
    with torch.no_grad():
        log_p = exact_terms(order, xs, masked.expand_as(xs)).log_likelihood
    log_joint = denoiser.log_prob(xs).float()
    expected = log_joint - torch.logsumexp(log_joint, 0)
    assert torch.allclose(log_p, expected, atol=1e-4)


def test_all_positions_at_once():
    """Prior and posterior logits +30: one step reveals everything, so p_theta(x) is the
    product of the first state's marginals, and ELBO = log p_theta(x) (Q is the posterior)."""
    order = tiny_order_model(seed=3, prior_logit=30.0, posterior_logit=30.0)
    x = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 1]])
    masked = torch.tensor([[True, True, True, True], [True, False, True, True]])
    with torch.no_grad():
        terms = exact_terms(order, x, masked)
        first = order.state(x, masked, masked, torch.zeros(2))
    product = torch.where(masked, first.true_log_prob, torch.zeros(())).sum(-1)
    assert torch.allclose(terms.log_likelihood, product, atol=1e-5)
    assert torch.allclose(terms.elbo, terms.log_likelihood, atol=1e-5)
    assert torch.allclose(terms.expected_steps, torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("seed", [0, 4, 5])
def test_elbo_never_exceeds_log_likelihood(seed):
    order = tiny_order_model(seed=seed)
    xs = all_completions(torch.zeros(N, dtype=torch.long), torch.ones(N, dtype=torch.bool), V)
    masked = torch.ones_like(xs, dtype=torch.bool)
    masked[::3, 0] = False   # some rows with a given
    with torch.no_grad():
        terms = exact_terms(order, xs, masked)
    assert (terms.elbo <= terms.log_likelihood + 1e-5).all()
    # The gap is KL(Q(order | x) || p_theta(order | x)) >= 0, and > 0 at a generic point.
    assert torch.allclose(terms.log_likelihood - terms.elbo, terms.kl_to_posterior, atol=1e-4)
    assert (terms.kl_to_posterior > 1e-4).any()
    # One masked position: a single ordered partition, so no gap at all.
    single = torch.zeros_like(masked)
    single[:, 2] = True
    with torch.no_grad():
        one = exact_terms(order, xs, single)
    assert torch.allclose(one.elbo, one.log_likelihood, atol=1e-6)


class FixedPosterior(PosteriorNet):
    """A posterior with the same logits `[length]` at every state (for a hand-built Q)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__(V + 1, N, **TINY_NET)
        self.register_buffer("fixed", logits)

    def forward(self, state, x):
        return self.fixed.expand(state.masked.shape)


def test_elbo_equals_log_likelihood_when_q_is_the_posterior():
    """Two masked positions a, b: three ordered partitions, {a, b} / ({a}, {b}) / ({b}, {a}).
    A BernoulliSubset over {a, b} can put any three positive masses on {a, b}, {a}, {b}: with
    logit q_a = log p({a,b}) / p({b} first) and logit q_b = log p({a,b}) / p({a} first), Q is
    the exact posterior over orders (the second step is forced). The posterior is computed
    here by hand from the prior and the denoiser, not by vi.exact."""
    order = tiny_order_model(seed=6)
    a, b = 1, 3
    x = torch.tensor([[1, 0, 0, 1]])
    m0 = torch.tensor([[False, True, False, True]])
    only = {i: torch.zeros_like(m0) for i in (a, b)}
    for i in (a, b):
        only[i][0, i] = True
    zero = torch.zeros(1)
    with torch.no_grad():
        s0 = order.state(x, m0, m0, zero)
        p0 = order.prior.distribution(s0)
        after = {i: order.state(x, m0 & ~only[i], m0, zero) for i in (a, b)}   # i revealed
        lp0 = s0.true_log_prob[0]
        joint_both = p0.log_prob(m0) + lp0[a] + lp0[b]
        joint_first = {i: p0.log_prob(only[i]) + lp0[i] + after[i].true_log_prob[0, j]
                       for i, j in ((a, b), (b, a))}
    logits = torch.zeros(N)
    logits[a] = (joint_both - joint_first[b]).item()
    logits[b] = (joint_both - joint_first[a]).item()
    exact_order = OrderModel(order.denoiser, order.prior, FixedPosterior(logits))
    with torch.no_grad():
        terms = exact_terms(exact_order, x, m0)
        generic = exact_terms(order, x, m0)
    expected = torch.logsumexp(torch.cat([joint_both, joint_first[a], joint_first[b]]), 0)
    assert torch.allclose(terms.log_likelihood, expected.reshape(1), atol=1e-5)
    assert torch.allclose(terms.elbo, terms.log_likelihood, atol=1e-5)
    assert (generic.elbo < generic.log_likelihood - 1e-4).all()   # a generic Q has a gap
