"""The VI few-step planner on the correctness model's view (`vi.correct_features`,
`correctness_path`): the factor rule on the margin read at each cell's correctness rank, so
that it starts as `learned_correct` with f(beta) = f0 (beta / beta0) ** slope."""
import pytest
import torch
from torch import nn

from denoiser.base import FrozenDenoiser
from planner import load_policy, sample
from vi import LearnedPlanner, PosteriorNet, PriorNet
from vi.checkpoint import load_planner, save_planner
from vi.correctness import CorrectnessNet, save_correctness
from policy_fixtures import ToyDenoiser

BASE = dict(d_model=16, n_heads=2, rank_features=True, predicted_token=True,
            beta_conditioned=True, beta_feature="log", factor_features=True, init_factor=0.5,
            factor_score="margin", init_factor_slope=2.0, init_factor_beta=0.1)


@pytest.fixture(scope="module")
def denoiser():
    return ToyDenoiser(vocab_size=10, length=12, sharpness=6.0)


@pytest.fixture(scope="module")
def correctness(denoiser, tmp_path_factory):
    """A correctness model with a random output layer (distinct c everywhere, no ties)."""
    torch.manual_seed(3)
    net = CorrectnessNet("sequence", hidden=8, layers=1)
    nn.init.normal_(net.mlp[-1].weight, std=3.0)
    path = tmp_path_factory.mktemp("correctness") / "c"
    save_correctness(path, net, FrozenDenoiser(denoiser))
    return str(path)


def prompts():
    p = torch.zeros(16, 12, dtype=torch.long)
    p[:8, :3] = torch.randint(1, 10, (8, 3), generator=torch.Generator().manual_seed(0))
    return p


@pytest.mark.parametrize("beta", [0.02, 0.05, 0.1, 0.2, 0.4])
def test_start_is_learned_correct_at_f_of_beta(denoiser, correctness, beta):
    """Step for step the deterministic start takes learned_correct's cells (the highest c, as
    many as the factor rule on the margin takes at f(beta)); the random c differs from the
    margin's order, so the two rules would part if the rank were the margin's."""
    prior = PriorNet(10, 12, **BASE, correctness_path=correctness).eval()
    learned = sample(denoiser, LearnedPlanner(prior, beta=beta), prompts())
    f = 0.5 * (beta / 0.1) ** 2.0
    rule = sample(denoiser, load_policy("learned_correct", path=correctness, f=f), prompts())
    margin_rule = sample(denoiser, load_policy("factor_margin", f=f), prompts())
    assert torch.equal(learned.order, rule.order)
    assert torch.equal(learned.tokens, rule.tokens)
    if beta == 0.05:
        assert not torch.equal(learned.order, margin_rule.order)


def test_nfe_falls_as_beta_rises(denoiser, correctness):
    prior = PriorNet(10, 12, **BASE, correctness_path=correctness).eval()
    nfe = [float(sample(denoiser, LearnedPlanner(prior, beta=b), prompts()).nfe.float().mean())
           for b in (1e-4, 0.03, 0.3, 3.0)]
    # one cell per step at the lowest price: 12 masked cells in half the rows, 9 in the rest
    assert nfe == sorted(nfe, reverse=True) and nfe[0] == 10.5 and nfe[-1] < nfe[0]


def test_the_correctness_model_is_frozen_and_not_the_planners(denoiser, correctness, tmp_path):
    """Its weights are neither parameters nor state of the planner (so neither trained nor
    saved); the planner folder records the path and loads it back with the same outputs."""
    prior = PriorNet(10, 12, **BASE, correctness_path=correctness).eval()
    plain = PriorNet(10, 12, **BASE).eval()
    n = sum(p.numel() for p in prior.parameters())
    # one more input (c): a weight per model width in the input layer, one in the skip
    assert n == sum(p.numel() for p in plain.parameters()) + BASE["d_model"] + 1
    assert set(prior.state_dict()) == set(plain.state_dict())
    assert prior.reads_probs and not plain.reads_probs
    kwargs = {**BASE, "vocab_size": 10, "max_length": 12, "correctness_path": correctness}
    save_planner(tmp_path / "p", prior, kwargs, FrozenDenoiser(denoiser))
    loaded, config = load_planner(tmp_path / "p")
    assert config["prior"]["correctness_path"] == correctness
    a = sample(denoiser, LearnedPlanner(prior, beta=0.05), prompts())
    b = sample(denoiser, LearnedPlanner(loaded, beta=0.05), prompts())
    assert torch.equal(a.order, b.order)


def test_posterior_starts_equal_to_the_prior(denoiser, correctness):
    from vi.features import DenoiserSummary
    from vi import OrderState
    torch.manual_seed(0)
    prior = PriorNet(10, 12, **BASE, correctness_path=correctness)
    posterior = PosteriorNet(10, 12, **BASE, correctness_path=correctness)
    tokens = torch.zeros(3, 12, dtype=torch.long)
    out = FrozenDenoiser(denoiser)(tokens)
    logits = out.logits.clone()
    logits[..., 0] = float("-inf")
    masked = tokens == 0
    state = OrderState(tokens=tokens, masked=masked, initial_masked=masked,
                       denoised=DenoiserSummary.from_logits(logits),
                       beta=torch.tensor([0.001, 0.1, 2.0]), true_log_prob=-torch.rand(3, 12))
    assert torch.allclose(prior(state), posterior(state, torch.randint(1, 10, (3, 12))))


def test_bad_settings_are_refused(correctness, tmp_path):
    with pytest.raises(ValueError, match="factor_score='margin'"):
        PriorNet(10, 12, **{**BASE, "factor_score": "confidence"}, correctness_path=correctness)
    with pytest.raises(ValueError, match="structure 'sequence'.*'sudoku'"):
        PriorNet(10, 81, **{**BASE, "structure": "sudoku"}, correctness_path=correctness)
    with pytest.raises((FileNotFoundError, ValueError), match="nowhere"):
        PriorNet(10, 12, **BASE, correctness_path=str(tmp_path / "nowhere"))


def test_a_summary_without_probs_is_refused(correctness):
    from vi.features import DenoiserSummary
    from vi import OrderState
    prior = PriorNet(10, 12, **BASE, correctness_path=correctness)
    c = torch.rand(2, 12)
    masked = torch.ones(2, 12, dtype=torch.bool)
    state = OrderState(tokens=torch.zeros(2, 12, dtype=torch.long), masked=masked,
                       initial_masked=masked, beta=torch.tensor([0.1, 0.1]),
                       denoised=DenoiserSummary(confidence=c, margin=c / 2, entropy=1 - c,
                                                argmax=torch.randint(1, 10, (2, 12))))
    with pytest.raises(ValueError, match="state.denoised.probs is None"):
        prior(state)


def test_train_planner_trains_and_ships_it(tmp_path, python_exe, python_env):
    """`planner=sudoku_fewstep_correct` through the VI trainer at a tiny size (a tiny Sudoku
    MDM and an untrained correctness model made for it): it trains, exports a folder that records the
    correctness path, and the folder samples as `learned_fewstep_correct`."""
    import json

    from conftest import run_module

    import planner
    from denoiser import MDMConfig, MDMTransformer, load_denoiser

    torch.manual_seed(0)
    folder = tmp_path / "denoiser"
    MDMTransformer(MDMConfig(vocab_size=10, mask_id=0, max_length=81, d_model=16, n_layers=1,
                             n_heads=2, d_ff=32, structure="sudoku")).save_pretrained(folder)
    correctness = tmp_path / "correctness"          # made for this denoiser
    save_correctness(correctness, CorrectnessNet("sudoku", hidden=8, layers=1),
                     FrozenDenoiser(load_denoiser(folder)))
    run_module(python_exe, python_env, "experiments.train_planner",
               "task.pool_size=20", "planner=sudoku_fewstep_correct",
               f"planner.correctness_path={correctness}",
               "train=planner_fewstep", "train.steps=2",
               "train.batch_size=2", "train.log_every=1", "train.eval_every=1000",
               "train.ckpt_every=1", "train.val_limit=2", "train.threads=1",
               "train.givens_min=70", "train.givens_max=78", "planner.d_model=8",
               "planner.n_layers=1", "planner.n_heads=2", f"denoiser.path={folder}",
               f"hydra.run.dir={tmp_path / 'run'}", f"export_to={tmp_path / 'shipped'}")
    config = json.loads((tmp_path / "shipped" / "config.json").read_text())
    assert config["prior"]["correctness_path"] == str(correctness)
    policy = planner.load_policy("learned_fewstep_correct", path=str(tmp_path / "shipped"))
    prompts = torch.zeros(2, 81, dtype=torch.long)
    prompts[:, :75] = torch.randint(1, 10, (2, 75), generator=torch.Generator().manual_seed(0))
    result = planner.sample(load_denoiser(folder), policy, prompts)
    assert (result.tokens != 0).all()


def test_a_correctness_model_of_another_denoiser_is_refused(denoiser, correctness, tmp_path):
    """The planner folder is this denoiser's, its frozen correctness model another's: sampling
    refuses, naming the correctness model's folder."""
    other = tmp_path / "other"
    save_correctness(other, CorrectnessNet("sequence", hidden=8, layers=1),
                     FrozenDenoiser(ToyDenoiser(vocab_size=10, length=12, seed=7)))
    prior = PriorNet(10, 12, **BASE, correctness_path=str(other))
    kwargs = {**BASE, "vocab_size": 10, "max_length": 12, "correctness_path": str(other)}
    save_planner(tmp_path / "p", prior, kwargs, FrozenDenoiser(denoiser))
    policy = load_policy("learned_fewstep_correct", path=str(tmp_path / "p"))
    with pytest.raises(ValueError, match="other.*trained for another denoiser"):
        sample(denoiser, policy, prompts())
    ok = tmp_path / "q"
    save_planner(ok, PriorNet(10, 12, **BASE, correctness_path=correctness),
                 {**kwargs, "correctness_path": correctness}, FrozenDenoiser(denoiser))
    assert sample(denoiser, load_policy("learned_fewstep_correct", path=str(ok)),
                  prompts()).tokens.ne(0).all()
