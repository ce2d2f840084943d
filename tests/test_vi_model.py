"""The order model's programs, features, networks and the learned policy, on the toy denoiser."""
import math

import pyro
import pytest
import torch
from pyro import poutine

from planner import sample
from vi import (LearnedPlanner, OrderState, PosteriorNet, PriorNet, RevealLikelihood,
                state_features, truth_features)
from vi.features import DenoiserSummary
from vi.toy import TINY_NET, JointTableDenoiser, tiny_order_model

X = torch.tensor([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1]])
MASKED = torch.tensor([[True, True, True, True], [False, True, True, True],
                       [True, False, False, True]])


def traces(order, **kwargs):
    guide = poutine.trace(order.guide).get_trace(X, MASKED, **kwargs)
    model = poutine.trace(poutine.replay(order.model, trace=guide)).get_trace(X, MASKED, **kwargs)
    return model, guide


def test_programs_reveal_an_ordered_partition_of_m0():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    order = tiny_order_model(seed=0)
    model, guide = traces(order, beta=0.5, entropy_weight=0.1)
    steps = [n for n in guide.nodes if n.startswith("r_")]
    assert steps == [f"r_{k}" for k in range(1, len(steps) + 1)]
    revealed = torch.zeros_like(MASKED)
    lengths = torch.zeros(3, dtype=torch.long)
    for k, name in enumerate(steps, start=1):
        r, active = guide.nodes[name]["value"], guide.nodes[name]["mask"]
        assert not (r & revealed).any()                       # blocks are disjoint
        assert torch.equal(r.any(-1), active)                 # non-empty exactly while running
        assert torch.equal(active, (MASKED & ~revealed).any(-1))
        revealed |= r
        lengths += active.long()
        for site in (f"price_{k}", f"x_{k}"):
            assert torch.equal(model.nodes[site]["mask"], active)
        assert f"entropy_{k}" in guide.nodes
        assert model.nodes[name]["scale"] == 1.0
    assert torch.equal(revealed, MASKED)                      # they cover M0
    model.compute_log_prob()
    price = sum(model.nodes[f"price_{k}"]["log_prob"] for k in range(1, len(steps) + 1))
    assert torch.allclose(price, -0.5 * lengths.float())      # -beta per step taken


def test_denoiser_called_once_per_state_of_a_running_sequence():
    """A (guide, model) pair visits the same states: K_b calls per sequence, not 2 K_b, and
    none for a finished one."""
    pyro.clear_param_store()
    order = tiny_order_model(seed=1)
    calls = order.denoiser.calls
    model, guide = traces(order)
    lengths = sum(s["mask"].long() for n, s in guide.nodes.items() if n.startswith("r_"))
    assert order.denoiser.calls - calls == int(lengths.sum())


def test_kl_scale_scales_the_step_sites_on_both_sides():
    pyro.clear_param_store()
    order = tiny_order_model(seed=2)
    model, guide = traces(order, kl_scale=0.25)
    assert model.nodes["r_1"]["scale"] == 0.25 and guide.nodes["r_1"]["scale"] == 0.25
    assert model.nodes["x_1"]["scale"] == 1.0 and model.nodes["price_1"]["scale"] == 1.0


def test_model_rejects_a_masked_x():
    order = tiny_order_model(seed=0)
    bad = X.clone()
    bad[0, 0] = order.mask_id
    with pytest.raises(ValueError, match="mask token"):
        order.guide(bad, MASKED)


def test_reveal_likelihood_is_evaluated_at_the_observation_only():
    lp = torch.tensor([[-1.0, -2.0, -3.0]])
    d = RevealLikelihood(lp, torch.tensor([[True, False, True]]), torch.tensor([[0, 1, 1]]))
    assert d.log_prob(torch.tensor([[0, 1, 1]])).item() == -4.0
    with pytest.raises(ValueError):
        d.log_prob(torch.tensor([[1, 1, 1]]))


def test_features_by_hand():
    probs = torch.tensor([[[0.7, 0.2, 0.1, 0.0], [0.4, 0.6, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]])
    logits = probs.log()                                     # mask token (id 3) at -inf
    summary = DenoiserSummary.from_logits(logits)
    masked = torch.tensor([[True, True, False]])
    state = OrderState(tokens=torch.tensor([[3, 3, 0]]), masked=masked,
                       initial_masked=torch.tensor([[True, True, True]]), denoised=summary,
                       true_log_prob=torch.tensor([[math.log(0.2), math.log(0.6), 0.0]]))
    f = state_features(state)[0]
    h0 = -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1))
    h1 = -(0.4 * math.log(0.4) + 0.6 * math.log(0.6))
    expected = torch.tensor([[0.7, 0.5, h0, 1.0, 2 / 3],
                             [0.6, 0.2, h1, 1.0, 2 / 3],
                             [0.0, 0.0, 0.0, 0.0, 2 / 3]])   # unmasked: statistics zeroed
    assert torch.allclose(f, expected, atol=1e-6)
    t = truth_features(state, torch.tensor([[1, 1, 0]]))[0]
    assert torch.allclose(t, torch.tensor([[math.log(0.2), 0.0], [math.log(0.6), 1.0],
                                           [0.0, 0.0]]), atol=1e-6)


def test_networks_shapes_and_options():
    b, n, v = 2, 81, 11
    summary = DenoiserSummary(confidence=torch.rand(b, n), margin=torch.rand(b, n),
                              entropy=torch.rand(b, n), argmax=torch.randint(0, 10, (b, n)),
                              hidden=torch.randn(b, n, 24))
    masked = torch.rand(b, n) < 0.5
    tokens = torch.where(masked, torch.full((b, n), 10), torch.randint(0, 10, (b, n)))
    initial = masked | (torch.rand(b, n) < 0.2)
    state = OrderState(tokens=tokens, masked=masked, initial_masked=initial,
                       denoised=summary, beta=torch.tensor([0.0, 1.0]),
                       true_log_prob=-torch.rand(b, n))
    prior = PriorNet(v, n, structure="sudoku", hidden_size=24, beta_conditioned=True)
    posterior = PosteriorNet(v, n, structure="sudoku")
    assert prior(state).shape == (b, n) and posterior(state, tokens.clamp(max=9)).shape == (b, n)
    d = prior.distribution(state)
    assert torch.equal(d.available, masked) and d.batch_shape == (b,)
    assert torch.allclose(d.probs, torch.full((b, n), 0.5))      # zero-initialised head
    with pytest.raises(ValueError, match="beta"):
        prior(OrderState(tokens, masked, masked, summary))
    with pytest.raises(ValueError, match="max_length"):
        PriorNet(v, 40)(state)
    with pytest.raises(ValueError, match="sudoku"):
        PriorNet(v, 40, structure="sudoku")


@pytest.mark.parametrize("init_logit,expected_nfe", [(5.0, 1), (-5.0, 4)])
def test_learned_planner_runs_in_the_sampling_loop(init_logit, expected_nfe):
    """Deterministic choice: all p_i = sigmoid(5) > 1/2 reveals everything in one step;
    sigmoid(-5) < 1/2 everywhere reveals the single most likely position per step."""
    denoiser = JointTableDenoiser.random(2, 4, seed=3)
    planner = LearnedPlanner(PriorNet(3, 4, init_logit=init_logit, **TINY_NET))
    tokens = torch.full((3, 4), denoiser.mask_id)
    tokens[1, 0] = 1
    out = sample(denoiser, planner, tokens)
    assert (out.tokens != denoiser.mask_id).all() and out.tokens[1, 0] == 1
    assert out.nfe.tolist() == [expected_nfe, min(expected_nfe, 3), expected_nfe]


def test_learned_planner_sampling_is_seeded():
    denoiser = JointTableDenoiser.random(2, 4, seed=4)
    planner = LearnedPlanner(PriorNet(3, 4, **TINY_NET), sample=True)
    tokens = torch.full((5, 4), denoiser.mask_id)
    a = sample(denoiser, planner, tokens, generator=torch.Generator().manual_seed(9))
    b = sample(denoiser, planner, tokens, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a.order, b.order) and torch.equal(a.nfe, b.nfe)
    assert a.nfe.float().mean() > 1.0    # p = 1/2 each: usually more than one step
