"""The planner's optional inputs (the heuristics' rank features, the predicted token) and its
initialisation as the Fast-dLLM confidence-threshold rule."""
import math

import pytest
import torch

from planner import load_policy, sample
from vi import LearnedPlanner, OrderState, PosteriorNet, PriorNet
from vi.features import RANK_FEATURES, DenoiserSummary, factor_features, rank_features
from policy_fixtures import ToyDenoiser


# five positions, the last one no longer masked
CONFIDENCE = torch.tensor([[0.5, 0.9, 0.99, 0.7, 1.0]])


def hand_state() -> OrderState:
    masked = torch.tensor([[True, True, True, True, False]])
    summary = DenoiserSummary(confidence=CONFIDENCE, margin=CONFIDENCE, entropy=CONFIDENCE,
                              argmax=torch.zeros(1, 5, dtype=torch.long))
    return OrderState(tokens=torch.zeros(1, 5, dtype=torch.long), masked=masked,
                      initial_masked=masked, denoised=summary)


def test_rank_features_by_hand():
    f = rank_features(hand_state())[0]
    assert f.shape == (5, len(RANK_FEATURES))
    logit = lambda p: math.log(p / (1 - p))
    assert torch.allclose(f[:4, 0], torch.tensor([logit(0.5), logit(0.9), logit(0.99), logit(0.7)]),
                          atol=1e-4)
    # share of the 3 other masked positions that are more confident; position 4 is not masked
    assert torch.allclose(f[:, 1], torch.tensor([1.0, 1 / 3, 0.0, 2 / 3, 0.0]))
    assert torch.equal(f[:, 2], torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0]))
    assert torch.equal(f[4], torch.zeros(3))           # the revealed position reads nothing


@pytest.mark.parametrize("start,rule", [
    ({"init_threshold": 0.6}, ("threshold", {"tau": 0.6})),
    ({"init_threshold": 0.8}, ("threshold", {"tau": 0.8})),
    ({"init_threshold": 0.9}, ("threshold", {"tau": 0.9})),
    ({"factor_features": True, "init_factor": 0.3}, ("factor", {"f": 0.3})),
    ({"factor_features": True, "init_factor": 1.0}, ("factor", {"f": 1.0})),
    ({"factor_features": True, "init_factor": 2.0}, ("factor", {"f": 2.0})),
    ({"factor_features": True, "init_factor": 0.6, "factor_score": "margin"}, ("factor_margin", {"f": 0.6})),
    ({"factor_features": True, "init_factor": 2.0, "factor_score": "margin"}, ("factor_margin", {"f": 2.0})),
    ({"factor_features": True, "init_factor": 4.0, "factor_score": "margin"}, ("factor_margin", {"f": 4.0})),
])
def test_initialisation_is_the_rule_it_starts_as(start, rule):
    """Started as the Fast-dLLM threshold (or factor) rule, the deterministic planner makes
    exactly that rule's choices, step for step, on a denoiser whose predictions depend on the
    order."""
    denoiser = ToyDenoiser(vocab_size=10, length=12, sharpness=6.0)
    prior = PriorNet(10, 12, d_model=16, n_heads=2, rank_features=True, predicted_token=True,
                     beta_conditioned=True, **start).eval()
    prompts = torch.zeros(16, 12, dtype=torch.long)
    prompts[:8, :3] = torch.randint(1, 10, (8, 3), generator=torch.Generator().manual_seed(0))
    learned = sample(denoiser, LearnedPlanner(prior, beta=0.5), prompts)
    heuristic = sample(denoiser, load_policy(rule[0], **rule[1]), prompts)
    assert torch.equal(learned.order, heuristic.order)
    assert torch.equal(learned.tokens, heuristic.tokens)
    assert 1 < learned.nfe.float().mean() < 9            # neither one per step nor all at once


def test_factor_features_by_hand():
    f = factor_features(hand_state())[0]
    assert torch.allclose(f[:4, 0], -torch.log1p(-CONFIDENCE[0, :4]), atol=1e-4)
    # log(n + 1) for the 1-based confidence rank n among the masked: ranks 4, 2, 1, 3
    assert torch.allclose(f[:4, 1], torch.log(torch.tensor([5.0, 3.0, 2.0, 4.0])))
    assert torch.equal(f[4], torch.zeros(2))


def test_margin_factor_features_by_hand():
    """factor_score "margin": the same two features of the margin (ranks 1, 3, 4, 2 here)."""
    state = hand_state()
    state.denoised.margin = torch.tensor([[0.9, 0.5, 0.2, 0.6, 1.0]])
    f = factor_features(state, "margin")[0]
    assert torch.allclose(f[:4, 0], -torch.log1p(-state.denoised.margin[0, :4]), atol=1e-4)
    assert torch.allclose(f[:4, 1], torch.log(torch.tensor([2.0, 4.0, 5.0, 3.0])))
    assert torch.equal(f[4], torch.zeros(2))
    with pytest.raises(ValueError, match=r"factor score must be one of \['confidence', 'margin'\], got 'entropy'"):
        factor_features(state, "entropy")


def test_posterior_starts_equal_to_the_prior():
    torch.manual_seed(0)
    kwargs = dict(d_model=16, n_heads=2, rank_features=True, predicted_token=True, init_threshold=0.8)
    prior, posterior = PriorNet(10, 12, **kwargs), PosteriorNet(10, 12, **kwargs)
    c = torch.rand(2, 12)
    masked = torch.rand(2, 12) < 0.7
    summary = DenoiserSummary(confidence=c, margin=c / 2, entropy=1 - c,
                              argmax=torch.randint(1, 10, (2, 12)))
    state = OrderState(tokens=torch.where(masked, 0, 3), masked=masked, initial_masked=masked,
                       denoised=summary, true_log_prob=-torch.rand(2, 12))
    x = torch.randint(1, 10, (2, 12))
    assert torch.allclose(prior(state), posterior(state, x))


def test_bad_initialisation_is_refused():
    with pytest.raises(ValueError, match="needs rank_features=True"):
        PriorNet(10, 12, init_threshold=0.9)
    with pytest.raises(ValueError, match=r"init_threshold must be in \(0, 1\), got 1.5"):
        PriorNet(10, 12, rank_features=True, init_threshold=1.5)
    with pytest.raises(ValueError, match="needs factor_features=True"):
        PriorNet(10, 12, init_factor=0.5)
    with pytest.raises(ValueError, match="start as one rule"):
        PriorNet(10, 12, rank_features=True, factor_features=True, init_threshold=0.9,
                 init_factor=0.5)
    with pytest.raises(ValueError, match=r"init_factor must be a finite number > 0, got -1"):
        PriorNet(10, 12, factor_features=True, init_factor=-1)
    with pytest.raises(ValueError, match=r"factor_score must be one of \['confidence', 'margin'\], got 'prob'"):
        PriorNet(10, 12, factor_features=True, factor_score="prob")


def test_beta_feature_log_spreads_small_prices():
    """With beta_feature="log" the price input differs by log(100) between 0.003 and 0.3, and
    the network's output moves with it; an unknown feature is refused."""
    torch.manual_seed(0)
    net = PriorNet(10, 12, d_model=16, n_heads=2, beta_conditioned=True, beta_feature="log",
                   rank_features=True, init_threshold=0.9)
    with torch.no_grad():
        net.skip.weight[0, -1] = 1.0                  # read the price input directly
    c = torch.rand(2, 12)
    masked = torch.ones(2, 12, dtype=torch.bool)
    summary = DenoiserSummary(confidence=c, margin=c / 2, entropy=1 - c,
                              argmax=torch.randint(1, 10, (2, 12)))
    def logits(beta):
        return net(OrderState(tokens=torch.zeros(2, 12, dtype=torch.long), masked=masked,
                              initial_masked=masked, denoised=summary, beta=torch.full((2,), beta)))
    assert torch.allclose(logits(0.3) - logits(0.003), torch.full((2, 12), math.log(100.0)), atol=1e-4)
    with pytest.raises(ValueError, match="beta_feature must be one of"):
        PriorNet(10, 12, beta_conditioned=True, beta_feature="sqrt")
