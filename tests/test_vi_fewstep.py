"""The few-step planner's start: the factor rule with an f that moves with the price,
f(beta) = f0 * (beta / beta0) ** slope (`init_factor_slope`)."""
import pytest
import torch

from planner import load_policy, sample
from vi import LearnedPlanner, PosteriorNet, PriorNet
from policy_fixtures import ToyDenoiser

START = dict(d_model=16, n_heads=2, rank_features=True, predicted_token=True,
             beta_conditioned=True, beta_feature="log", factor_features=True, init_factor=0.5,
             init_factor_slope=2.0, init_factor_beta=0.1)


@pytest.mark.parametrize("beta", [0.01, 0.05, 0.1, 0.2, 0.4])
def test_start_is_the_factor_rule_at_f_of_beta(beta):
    """At each price the deterministic planner makes the factor rule's choices at f(beta),
    step for step, on a denoiser whose predictions depend on the order."""
    denoiser = ToyDenoiser(vocab_size=10, length=12, sharpness=6.0)
    prior = PriorNet(10, 12, **START).eval()
    prompts = torch.zeros(16, 12, dtype=torch.long)
    prompts[:8, :3] = torch.randint(1, 10, (8, 3), generator=torch.Generator().manual_seed(0))
    learned = sample(denoiser, LearnedPlanner(prior, beta=beta), prompts)
    f = 0.5 * (beta / 0.1) ** 2.0
    heuristic = sample(denoiser, load_policy("factor", f=f), prompts)
    assert torch.equal(learned.order, heuristic.order)
    assert torch.equal(learned.tokens, heuristic.tokens)


def test_start_commits_more_per_step_as_beta_rises():
    denoiser = ToyDenoiser(vocab_size=10, length=12, sharpness=6.0)
    prior = PriorNet(10, 12, **START).eval()
    prompts = torch.zeros(32, 12, dtype=torch.long)
    nfe = [float(sample(denoiser, LearnedPlanner(prior, beta=b), prompts).nfe.float().mean())
           for b in (0.001, 0.03, 0.3, 3.0)]
    assert nfe == sorted(nfe, reverse=True) and nfe[0] > nfe[-1]


def test_posterior_starts_equal_to_the_prior_at_every_beta():
    """The posterior's extra (truth) inputs sit before the price: its skip reads the price too."""
    from vi import OrderState
    from vi.features import DenoiserSummary
    torch.manual_seed(0)
    prior, posterior = PriorNet(10, 12, **START), PosteriorNet(10, 12, **START)
    c = torch.rand(3, 12)
    masked = torch.rand(3, 12) < 0.7
    summary = DenoiserSummary(confidence=c, margin=c / 2, entropy=1 - c,
                              argmax=torch.randint(1, 10, (3, 12)))
    state = OrderState(tokens=torch.where(masked, 0, 3), masked=masked, initial_masked=masked,
                       denoised=summary, beta=torch.tensor([0.001, 0.1, 2.0]),
                       true_log_prob=-torch.rand(3, 12))
    assert torch.allclose(prior(state), posterior(state, torch.randint(1, 10, (3, 12))))


def test_bad_slope_is_refused():
    base = {k: v for k, v in START.items() if k not in ("init_factor_slope", "init_factor_beta")}
    with pytest.raises(ValueError, match="beta_feature='log'"):
        PriorNet(10, 12, **{**base, "beta_feature": "log1p"}, init_factor_slope=1.0)
    with pytest.raises(ValueError, match="needs init_factor"):
        PriorNet(10, 12, **{**base, "init_factor": None}, init_factor_slope=1.0)
    with pytest.raises(ValueError, match=r"init_factor_slope must be a finite number, got inf"):
        PriorNet(10, 12, **base, init_factor_slope=float("inf"))
    with pytest.raises(ValueError, match=r"init_factor_beta must be >= 0.0001"):
        PriorNet(10, 12, **base, init_factor_slope=1.0, init_factor_beta=0.0)
