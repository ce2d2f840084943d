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


def random_state(beta: torch.Tensor):
    """A random `OrderState` of 3 rows of 12 positions at the prices `beta` `[3]` (the torch
    seed fixes it), with the posterior's true log-probabilities."""
    from vi import OrderState
    from vi.features import DenoiserSummary
    c = torch.rand(3, 12)
    masked = torch.rand(3, 12) < 0.7
    summary = DenoiserSummary(confidence=c, margin=c / 2, entropy=1 - c,
                              argmax=torch.randint(1, 10, (3, 12)))
    return OrderState(tokens=torch.where(masked, 0, 3), masked=masked, initial_masked=masked,
                      denoised=summary, beta=beta, true_log_prob=-torch.rand(3, 12))


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
    torch.manual_seed(0)
    prior, posterior = PriorNet(10, 12, **START), PosteriorNet(10, 12, **START)
    state = random_state(torch.tensor([0.001, 0.1, 2.0]))
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


RANDOM_START = dict(d_model=16, n_heads=2, rank_features=True, predicted_token=True,
                    beta_conditioned=True, beta_feature="log", factor_features=True,
                    init_logit=-0.7, init_logit_slope=0.65, init_logit_beta=1.0)


def test_random_start_gives_every_masked_position_the_price_s_probability():
    """The random-order start: logit init_logit + slope * log(beta / beta0) at every position,
    whatever the state; the posterior starts equal to it."""
    import math
    torch.manual_seed(1)
    prior, posterior = PriorNet(10, 12, **RANDOM_START), PosteriorNet(10, 12, **RANDOM_START)
    betas = torch.tensor([0.2, 1.0, 4.0])
    state = random_state(betas)
    want = (-0.7 + 0.65 * betas.log())[:, None].expand(3, 12)
    assert torch.allclose(prior(state), want, atol=1e-5)
    assert torch.allclose(posterior(state, torch.randint(1, 10, (3, 12))), want, atol=1e-5)
    assert math.isclose(float(want[1, 0]), -0.7, abs_tol=1e-6)


def test_random_start_reveals_more_per_step_as_beta_rises():
    denoiser = ToyDenoiser(vocab_size=10, length=12, sharpness=6.0)
    prior = PriorNet(10, 12, **RANDOM_START).eval()
    prompts = torch.zeros(64, 12, dtype=torch.long)
    nfe = [float(sample(denoiser, LearnedPlanner(prior, beta=b, sample=True), prompts,
                        generator=torch.Generator().manual_seed(0)).nfe.float().mean())
           for b in (0.05, 1.0, 20.0)]
    assert nfe[0] > nfe[1] > nfe[2]


def test_bad_random_start_is_refused():
    base = {k: v for k, v in RANDOM_START.items() if k != "init_logit_slope"}
    with pytest.raises(ValueError, match="beta_feature='log'"):
        PriorNet(10, 12, **{**base, "beta_feature": "log1p"}, init_logit_slope=1.0)
    with pytest.raises(ValueError, match="excludes init_threshold"):
        PriorNet(10, 12, **base, init_logit_slope=1.0, init_factor=0.5)
    with pytest.raises(ValueError, match=r"init_logit_slope must be a finite number, got nan"):
        PriorNet(10, 12, **base, init_logit_slope=float("nan"))
    with pytest.raises(ValueError, match=r"init_logit_beta must be >= 0.0001"):
        PriorNet(10, 12, **{**base, "init_logit_beta": 0.0}, init_logit_slope=1.0)


def test_schedule_feature_makes_the_random_start_an_even_schedule():
    """With schedule_feature the random start's logit is -log T(beta) - log(share still
    masked): on a long row it spends about T calls, as random_k with T steps does, where the
    start without it (a constant p) is front-loaded and spends a different number."""
    import math
    from vi.features import schedule_features
    from vi import OrderState
    from vi.features import DenoiserSummary
    masked = torch.zeros(2, 8, dtype=torch.bool)
    masked[0, :2] = True
    masked[1, :] = True
    initial = torch.ones(2, 8, dtype=torch.bool)
    state = OrderState(tokens=torch.zeros(2, 8, dtype=torch.long), masked=masked,
                       initial_masked=initial, denoised=DenoiserSummary(
                           confidence=torch.rand(2, 8), margin=torch.rand(2, 8),
                           entropy=torch.rand(2, 8), argmax=torch.zeros(2, 8, dtype=torch.long)))
    f = schedule_features(state)[..., 0]
    assert torch.allclose(f[0, :2], torch.full((2,), math.log(0.25))) and f[0, 2:].eq(0).all()
    assert f[1].eq(0).all()            # nothing revealed yet: log 1
    start = {**RANDOM_START, "init_logit": -math.log(10.0), "init_logit_slope": 0.0}
    prior = PriorNet(10, 96, **start, schedule_feature=True).eval()
    prompts = torch.zeros(64, 96, dtype=torch.long)
    denoiser = ToyDenoiser(vocab_size=10, length=96, sharpness=6.0)
    nfe = float(sample(denoiser, LearnedPlanner(prior, beta=1.0, sample=True), prompts,
                       generator=torch.Generator().manual_seed(0)).nfe.float().mean())
    assert 9.0 <= nfe <= 14.0, nfe
