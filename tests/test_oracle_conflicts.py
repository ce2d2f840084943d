"""The posterior as an oracle policy (vi/oracle.py, experiments/oracle.py) and the within-step
conflict counts (experiments/conflicts.py), by hand."""
import pytest
import torch

from experiments.conflicts import WithinStepConflicts, conflicted, peer_matrix
from experiments.oracle import front, gap_share, interpolate
from planner import StepRecord, sample
from planner.policy import Selection
from policy_fixtures import ToyDenoiser, make_ctx
from vi import PosteriorNet
from vi.features import FACTOR_FEATURES, RANK_FEATURES, STATE_FEATURES, TRUTH_FEATURES
from vi.oracle import PosteriorOracle


def truth_reader() -> PosteriorNet:
    """A posterior that takes exactly the masked cells whose argmax is the true token."""
    net = PosteriorNet(10, 12, d_model=16, n_heads=2, rank_features=True, factor_features=True,
                       init_factor=0.5, beta_conditioned=True, beta_feature="log").eval()
    at = (len(STATE_FEATURES) + len(RANK_FEATURES) + len(FACTOR_FEATURES)
          + TRUTH_FEATURES.index("argmax_is_true"))
    with torch.no_grad():
        net.skip.weight.zero_()
        net.skip.weight[0, at] = 20.0
        net.skip.bias.fill_(-10.0)
    return net


def test_the_oracle_reads_the_solution_of_each_row():
    denoiser = ToyDenoiser(vocab_size=10, length=12, sharpness=6.0)
    prompts = torch.zeros(6, 12, dtype=torch.long)
    # the solutions: the denoiser's own greedy completion of each row under a random order,
    # except that rows 3-5 have their last cell changed (so it can never be right there)
    refs = sample(denoiser, "random_k", prompts, generator=torch.Generator().manual_seed(1)).tokens
    refs[3:, -1] = refs[3:, -1] % 9 + 1
    out = sample(denoiser, PosteriorOracle(truth_reader(), refs, beta=0.1), prompts)
    assert out.tokens.shape == refs.shape and (out.nfe >= 1).all()
    # it commits only right cells while any masked cell's argmax is right
    hits = (out.tokens == refs).float().mean()
    assert hits > 0.6
    with pytest.raises(ValueError, match=r"row 5 of the batch has no reference: the oracle holds 3"):
        sample(denoiser, PosteriorOracle(truth_reader(), refs[:3]), prompts)


def test_peers_and_conflicts_by_hand():
    peers = peer_matrix()
    assert peers.sum(-1).eq(20).all() and not peers.diagonal().any()
    chosen = torch.zeros(3, 81, dtype=torch.bool)
    tokens = torch.zeros(3, 81, dtype=torch.long)
    chosen[0, [0, 8]] = True; tokens[0, [0, 8]] = 5          # same row, same digit
    chosen[1, [0, 80]] = True; tokens[1, [0, 80]] = 5        # not peers
    chosen[2, [0, 10]] = True; tokens[2, [0, 10]] = torch.tensor([5, 6])  # same box, other digits
    assert conflicted(chosen, tokens, peers).tolist() == [True, False, False]


def test_conflict_rates_and_the_first_wrong_step():
    counter = WithinStepConflicts()
    probs = torch.full((2, 81, 10), 0.1)
    probs[..., 0] = 0.0
    probs = probs / probs.sum(-1, keepdim=True)
    ctx = make_ctx(probs, rows=torch.tensor([0, 1]), step=torch.tensor([0, 0]))
    chosen = torch.zeros(2, 81, dtype=torch.bool)
    chosen[0, [0, 9]] = True                                 # one column, digit 3 twice
    chosen[1, [40]] = True
    tokens = torch.full((2, 81), 3)
    counter(10, StepRecord(0, ctx, Selection(chosen), tokens))
    assert (counter.steps, counter.multi, counter.conflict) == (2, 1, 1)
    assert counter.by_sequence == {10: [0]}
    correct = torch.ones(12, dtype=torch.bool)
    correct[[10, 11]] = False
    s = counter.summary(correct, {10: 0, 11: 0})
    assert s["conflict_step_rate"] == 0.5 and s["conflict_rate_of_multi_steps"] == 1.0
    assert s["sequences_with_conflict"] == pytest.approx(1 / 12)
    assert s["failed_with_conflict"] == 0.5 and s["failed_conflict_at_first_wrong"] == 0.5


def test_front_interpolation_and_share():
    curve = front([(4.0, 0.5), (6.0, 0.4), (8.0, 0.7), (3.0, 0.2)])
    assert curve == [(3.0, 0.2), (4.0, 0.5), (8.0, 0.7)]    # (6, 0.4) is dominated
    assert interpolate(curve, 6.0) == pytest.approx(0.6)
    assert interpolate(curve, 2.0) is None and interpolate(curve, 9.0) == 0.7
    assert gap_share(0.65, 0.9, 0.6) == pytest.approx(1 / 6)
    assert gap_share(0.65, 0.5, 0.6) is None


def test_posterior_folder_round_trip_and_refusals(tmp_path):
    from denoiser.base import FrozenDenoiser
    from vi.checkpoint import load_planner, load_posterior, save_posterior
    frozen = FrozenDenoiser(ToyDenoiser(vocab_size=10, length=12))
    net = truth_reader()
    kwargs = dict(d_model=16, n_heads=2, rank_features=True, factor_features=True,
                  init_factor=0.5, beta_conditioned=True, beta_feature="log",
                  vocab_size=10, max_length=12)
    save_posterior(tmp_path / "q", net, kwargs, frozen)
    loaded, config = load_posterior(tmp_path / "q", frozen)
    assert config["model_type"] == "order_posterior"
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="expected 'order_planner'"):
        load_planner(tmp_path / "q")
    other = FrozenDenoiser(ToyDenoiser(vocab_size=10, length=12, seed=1))
    with pytest.raises(ValueError, match="trained for another denoiser"):
        load_posterior(tmp_path / "q", other)
