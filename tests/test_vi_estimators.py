"""Every stochastic estimator against the exact objective and gradient of `vi.exact`.

Same toy as tests/test_vi_exact.py (the exact conditionals of a random joint over {0, 1}^4).
Each estimator is drawn DRAWS times at one fixed, generic parameter point; its mean loss and
mean gradient must lie within 4 standard errors (estimated from the draws) of the exact
values. Fixed seeds make the outcome deterministic.
"""
import math

import pyro
import pytest
import torch

from vi import OneStepLOO_ELBO, RaoBlackwellLOO_ELBO, exact_terms, reference_elbo
from vi.toy import tiny_order_model

X = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]])
MASKED = torch.tensor([[True, True, True, True], [False, True, True, True],
                       [True, False, False, True]])
ANNEALED = dict(beta=0.3, kl_scale=0.5, entropy_weight=0.2)
# TraceGraph_ELBO scales a scaled site's score function too (Pyro's subsampling semantics),
# so it targets the annealed objective's gradient only at kl_scale = 1.
PLAIN = dict(beta=0.3, kl_scale=1.0, entropy_weight=0.2)
DRAWS, WARMUP = 50, 5

ESTIMATORS = {
    "tracegraph": (lambda: reference_elbo(num_particles=2), PLAIN,
                   {"use_decaying_avg_baseline": True}),
    "rb_loo": (lambda: RaoBlackwellLOO_ELBO(num_particles=2), PLAIN, None),
    "rb_loo_annealed": (lambda: RaoBlackwellLOO_ELBO(num_particles=3), ANNEALED, None),
    "one_step_annealed": (lambda: OneStepLOO_ELBO(num_particles=3), ANNEALED, None),
}
_DRAWS: dict = {}


def estimator_draws(name: str):
    """(losses `[DRAWS]`, gradients `[DRAWS, P]`, exact -J, exact gradient of -J `[P]`) for
    one estimator at a fixed parameter point; computed once per test session."""
    if name in _DRAWS:
        return _DRAWS[name]
    make, settings, baseline = ESTIMATORS[name]
    order = tiny_order_model(seed=7, baseline=baseline)
    params = list(order.parameters())
    exact = exact_terms(order, X, MASKED, **settings)
    exact_grad = torch.autograd.grad(-exact.objective.sum(), params, allow_unused=True)
    exact_grad = torch.cat([torch.zeros(p.numel()) if g is None else g.flatten()
                            for p, g in zip(params, exact_grad)])
    pyro.clear_param_store()
    pyro.set_rng_seed(11)
    estimator = make()
    losses, grads = [], []
    for i in range(WARMUP + DRAWS):
        for p in params:
            p.grad = None
        loss = estimator.loss_and_grads(order.model, order.guide, X, MASKED, **settings)
        if i >= WARMUP:   # lets the decaying-average baseline settle
            losses.append(loss)
            grads.append(torch.cat([torch.zeros(p.numel()) if p.grad is None else p.grad.flatten()
                                    for p in params]))
    _DRAWS[name] = (torch.tensor(losses), torch.stack(grads),
                    -exact.objective.sum().item(), exact_grad)
    return _DRAWS[name]


def z_scores(draws: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """(mean - expected) / standard error, per column of draws `[M, C]`."""
    se = draws.std(0) / math.sqrt(draws.shape[0])
    return (draws.mean(0) - expected) / se


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimator_matches_exact_objective_and_gradient(name):
    """Loss and gradient unbiased: within 4 standard errors of the exact values. The
    gradient (about 5k entries) is compared along the exact gradient's direction and five
    fixed random directions."""
    losses, grads, exact_loss, exact_grad = estimator_draws(name)
    assert abs(z_scores(losses[:, None], torch.tensor([exact_loss])).item()) < 4.0
    g = torch.Generator().manual_seed(0)
    directions = torch.cat([exact_grad[None] / exact_grad.norm(),
                            torch.randn(5, exact_grad.numel(), generator=g)])
    z = z_scores(grads @ directions.T, directions @ exact_grad)
    assert z.abs().max() < 4.0, z


def test_rao_blackwell_loo_has_lower_gradient_variance_than_tracegraph():
    """Same problem, same parameters, 2 particles each; TraceGraph with its decaying-average
    baseline (already warmed up). Total variance = sum over parameters of the variance of
    one gradient draw. Measured here: TraceGraph 109.3, RB+LOO 44.9 (2.4 times lower). With 4
    particles each at other generic points: 66.6 vs 34.8 and 140.2 vs 9.9. At the initial
    point, where both heads are zero and P = Q, the two were close (19.9 vs 18.1)."""
    var_tracegraph = estimator_draws("tracegraph")[1].var(0).sum().item()
    var_rb = estimator_draws("rb_loo")[1].var(0).sum().item()
    assert var_rb < 0.5 * var_tracegraph, (var_rb, var_tracegraph)


@pytest.mark.parametrize("make", [lambda: reference_elbo(2), lambda: RaoBlackwellLOO_ELBO(2),
                                  lambda: OneStepLOO_ELBO(2)])
def test_svi_trains_the_planner_and_never_the_denoiser(make):
    order = tiny_order_model(seed=8, baseline={"use_decaying_avg_baseline": True})
    before = order.denoiser.fingerprint()
    planner_before = [p.detach().clone() for p in order.parameters()]
    pyro.clear_param_store()
    svi = pyro.infer.SVI(order.model, order.guide, pyro.optim.Adam({"lr": 1e-2}), loss=make())
    for _ in range(3):
        loss = svi.step(X, MASKED, beta=0.1)
        assert math.isfinite(loss)
    assert order.denoiser.fingerprint() == before
    changed = [not torch.equal(a, b) for a, b in zip(planner_before, order.parameters())]
    assert any(changed)
