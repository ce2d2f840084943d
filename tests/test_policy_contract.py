"""The contract every policy config must keep, run over `planner.policy_names()`, so a new
policy is covered as soon as its config exists.

Budget, per policy: a config with a `steps` knob promises at most `steps` denoiser calls per
sequence (checked at steps=T with T at least the number of semi-AR blocks); the others
(threshold, factor, EB) promise only progress: at least one position per step, so at most
as many calls as masked positions.
"""
from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from denoiser.base import FrozenDenoiser
from planner import policy_names, sample
from planner.context import StepContext
from experiments import POLICY_CONFIGS as POLICY_CONFIG_DIR  # also registers every config
from policy_fixtures import ToyDenoiser, make_policy


def load_policy(name: str, **overrides):
    return make_policy(name, ToyDenoiser(), **overrides)

LENGTH, VOCAB, MASK = 12, 10, 0
T = 4


def knobs(name: str) -> dict:
    return OmegaConf.to_container(OmegaConf.load(POLICY_CONFIG_DIR / f"{name}.yaml"))


def ragged_batch() -> torch.Tensor:
    """Rows with 12, 6, 1 and 0 masked positions; givens are non-mask tokens."""
    g = torch.Generator().manual_seed(7)
    tokens = torch.randint(1, VOCAB, (4, LENGTH), generator=g)
    tokens[0, :] = MASK
    tokens[1, ::2] = MASK
    tokens[2, 5] = MASK
    return tokens


def run(policy, tokens, seed=0, temperature=0.0, max_nfe=None):
    return sample(ToyDenoiser(), policy, tokens, generator=torch.Generator().manual_seed(seed),
                  temperature=temperature, max_nfe=max_nfe)


def check_result(tokens, result, policy=None):
    masked0 = tokens == MASK
    assert (result.tokens != MASK).all(), "a position was left masked"
    assert torch.equal(result.tokens[~masked0], tokens[~masked0]), "a given changed"
    assert torch.equal(result.order == -1, ~masked0), "order must be -1 exactly at givens"
    assert (result.rewrites[~masked0] == 0).all(), "a given was rewritten"
    if policy is not None and policy.revises:
        # a revising policy: within its bound, every write at a step it took
        assert policy.max_nfe is not None
        assert (result.nfe <= policy.max_nfe).all()
        assert (result.order < result.nfe[:, None]).all()
        return
    assert (result.rewrites == 0).all(), "a one-pass policy rewrote a position"
    for row in range(tokens.shape[0]):
        steps_used = result.order[row][masked0[row]]
        n = int(result.nfe[row])
        if not masked0[row].any():
            assert n == 0
            continue
        # every step 0..nfe-1 revealed at least one position, and no other step exists
        assert sorted(set(steps_used.tolist())) == list(range(n))


@pytest.mark.parametrize("name", policy_names())
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_sample_contract(name, temperature):
    tokens = ragged_batch()
    policy = load_policy(name)
    result = run(policy, tokens, temperature=temperature)
    check_result(tokens, result, policy)
    assert result.nfe[3] == 0
    if not policy.revises:
        assert result.nfe[2] == 1
        assert (result.nfe <= (tokens == MASK).sum(-1)).all()

    again = run(load_policy(name), tokens, temperature=temperature)
    assert torch.equal(result.tokens, again.tokens)
    assert torch.equal(result.order, again.order)
    assert torch.equal(result.nfe, again.nfe)


@pytest.mark.parametrize("name", policy_names())
def test_batch_of_one(name):
    for row in ragged_batch():
        tokens = row[None]
        policy = load_policy(name)
        result = run(policy, tokens)
        check_result(tokens, result, policy)


@pytest.mark.parametrize("name", policy_names())
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_max_nfe_bound(name, temperature):
    """`max_nfe` bounds every policy: the last allowed call completes the row. A one-pass
    policy under a bound it never reaches is bit-identical to the unbounded run."""
    tokens = ragged_batch()
    policy = load_policy(name)
    bound = max(3, getattr(policy, "steps", None) or 0)
    result = run(policy, tokens, temperature=temperature, max_nfe=bound)
    if policy.revises:
        check_result(tokens, result, policy)
    assert (result.tokens != MASK).all() and (result.nfe <= bound).all()
    assert torch.equal(result.tokens[tokens != MASK], tokens[tokens != MASK])
    if not policy.revises:
        free = run(load_policy(name), tokens, temperature=temperature)
        loose = run(load_policy(name), tokens, temperature=temperature, max_nfe=LENGTH)
        for field in ("tokens", "order", "nfe"):
            assert torch.equal(getattr(free, field), getattr(loose, field))


@pytest.mark.parametrize("name", [n for n in policy_names() if "steps" in knobs(n)])
def test_step_budget(name):
    tokens = ragged_batch()
    for temperature in (0.0, 1.0):
        policy = load_policy(name, steps=T)
        result = run(policy, tokens, seed=3, temperature=temperature)
        check_result(tokens, result, policy)
        # a revising policy's own bound counts its extra (edit-only) calls beyond `steps`
        bound = policy.max_nfe if policy.revises else T
        assert (result.nfe <= bound).all(), f"{name} spent {result.nfe.tolist()} calls with steps={T}"


@pytest.mark.parametrize("name", policy_names())
def test_direct_select_on_ragged_rows(name):
    """`select` on a context holding only some rows of the batch (finished rows have left):
    a non-empty subset of the masked positions for every row, of the right shape and dtype."""
    tokens = ragged_batch()
    policy = load_policy(name)
    initial_masked = tokens == MASK
    g = torch.Generator().manual_seed(0)
    state = policy.init_state(initial_masked, g)
    frozen = FrozenDenoiser(ToyDenoiser())
    rows = torch.tensor([2, 0])
    x = tokens[rows].clone()
    x[1, 3] = 4                             # row 0 has progressed: one position revealed
    logits = frozen(x).logits
    masked = x == MASK
    ctx = StepContext(logits=logits, tokens=x, masked=masked, initial_masked=initial_masked[rows],
                      step=torch.tensor([0, 1]), rows=rows, generator=g)
    chosen = policy.select(ctx, state).chosen
    assert chosen.dtype == torch.bool and chosen.shape == masked.shape
    assert not (chosen & ~masked).any()
    if not policy.revises:
        assert chosen.any(-1).all()


@pytest.mark.parametrize("name", policy_names())
def test_config_knobs_are_constructor_arguments(name):
    """A policy's settings are its constructor arguments: the config rebuilds it."""
    cfg = knobs(name)
    # one file per policy, named after it (a heuristic in planner/policies/, the learned
    # planner in vi/learned_policy.py)
    module = cfg["_target_"].rsplit(".", 1)[0]
    # (learned_fewstep, learned_grpo, ... are the learned policy on other weights)
    assert module in (f"planner.policies.{name}", f"vi.{name}_policy", "vi.learned_policy"), module
    assert load_policy(name, **{k: v for k, v in cfg.items() if k != "_target_"}) is not None
