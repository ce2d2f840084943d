"""The seeds' alternation example: the valid sequences are exactly ABABAB and BABABA.

With nothing revealed the exact conditionals are 1/2 - 1/2 at every position; once one token
is revealed everything else is determined (probability 1). So a policy that reveals a single
position first is always right, and the damage is done only when several positions are
revealed together while all is still uncertain: each is then drawn independently.
"""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from planner import policy_names, sample
from policy_fixtures import A, B, AlternationDenoiser, make_policy

L = 6
N_STAT = 4000          # sequences per statistical check
ABAB = torch.tensor([A, B] * (L // 2))
BABA = torch.tensor([B, A] * (L // 2))
VOCAB3_FREQ = [1e-3, 0.5, 0.5]   # a background frequency for the 3-token vocabulary (pc)


def valid(tokens: torch.Tensor) -> torch.Tensor:
    return (tokens == ABAB).all(-1) | (tokens == BABA).all(-1)


def run(name: str, n: int, temperature: float, seed: int = 0, **overrides):
    policy = make_policy(name, AlternationDenoiser(L), **overrides)
    tokens = torch.zeros(n, L, dtype=torch.long)
    return sample(AlternationDenoiser(L), policy, tokens, temperature=temperature,
                  generator=torch.Generator().manual_seed(seed))


def first_group_law(steps: int):
    """Vanilla ancestral sampling with `steps` bins: {S: P(the first step reveals exactly S)}.
    Each position's bin is uniform on 0..steps-1; S is the set at the smallest bin m:
    P(S) = sum_m (1/T)^|S| ((T - 1 - m)/T)^(L - |S|)."""
    law = {}
    for size in range(1, L + 1):
        p = sum((1 / steps) ** size * ((steps - 1 - m) / steps) ** (L - size) for m in range(steps))
        for subset in itertools.combinations(range(L), size):
            law[subset] = p
    assert math.isclose(sum(law.values()), 1.0)
    return law


def assert_frequency(observed: torch.Tensor, p: float, n: int):
    """A Bernoulli frequency within 4.5 standard errors of p (p exactly 0 or 1: exact)."""
    freq = float(observed.float().mean())
    if p in (0.0, 1.0):
        assert freq == p
        return
    tol = 4.5 * math.sqrt(p * (1 - p) / n)
    assert abs(freq - p) <= tol, f"frequency {freq:.4f}, expected {p:.4f} +- {tol:.4f}"


# What each policy must do here (default knobs unless overridden):
#   "one_per_step": one position per step -> always valid, NFE = L exactly;
#   "two_steps":    one position at 1/2, then every other at probability 1 -> valid, NFE = 2.
EXPECT = {
    "topk_margin": ("one_per_step", {}),
    "topk_prob": ("one_per_step", {}),
    "entropy": ("one_per_step", {}),
    "random_k": ("one_per_step", {}),
    "semi_ar": ("one_per_step", {"block_length": 2}),
    "pc": ("one_per_step", {"frequency": VOCAB3_FREQ, "lam": 0.25}),
    "hyperschedule_block": ("one_per_step", {}),
    "hyperschedule_window": ("one_per_step", {}),
    # one block of 6 places over 17 steps: the expected count grows by 6/9 < 1 per step
    "hyperschedule_hybrid": ("one_per_step", {}),
    # tau 0.9: nothing above it at 1/2, so the top one; then all at 1.0 > 0.9.
    "threshold": ("two_steps", {"tau": 0.9}),
    # f 1: (n+1)(1 - 1/2) < 1 fails for n = 1, so one; then (n+1)(1 - 1) = 0 < 1 for all n.
    "factor": ("two_steps", {"f": 1.0}),
    # the same on the margin: 0 at 1/2 (two tokens tie), so (n+1)(1 - 0) < 1 fails; then 1.
    "factor_margin": ("two_steps", {"f": 1.0}),
    # gamma 0.01: two positions at log 2 exceed it, so one; then all have entropy 0.
    "eb": ("two_steps", {"gamma": 0.01}),
    # diffusers' block refinement at its defaults (block 32 over 32 steps: a quota of one):
    # nothing above 0.95 at 1/2, so the top one; then all at 1.0. Its entropy bound 0.1 is
    # below log 2, so one; then entropy 0 for all.
    "diffusers_block_refinement": ("two_steps", {}),
    "diffusers_entropy_bound": ("two_steps", {}),
    "random": ("ancestral", {"steps": 4}),
    # GenMD4's sampler with every power 1 is MD4's: the same first-step law as `random`
    "genmd4": ("ancestral", {"steps": 4, "power": [1.0, 1.0, 1.0]}),
    # an untrained planner (zero output layer): every p_i = 1/2, not above the threshold, so
    # the deterministic mode takes the single most likely position each step.
    "learned": ("one_per_step", {"random_head": False}),
    # revising policies. Backtracking: the factor rule's two steps make a consistent board
    # (every p = 1), which one more call verifies. Token editing: one, then all five at p = 1
    # above 0.95; the edit-only call after the last mask finds nothing to edit.
    "backtrack": ("verified", {}),
    "token_edit": ("verified", {}),
    # ReMDM and P2 run exactly their steps; on exact ties (all 1/2) they may commit both
    # parities at once, so only completion and the bound are promised here.
    "remdm": ("bounded", {"steps": 8}),
    "p2": ("bounded", {"steps": 4}),
    "learned_fewstep": ("one_per_step", {"random_head": False}),
    # the text few-step planner draws its subsets; thresholded, the untrained one is one per step
    "learned_text_fewstep": ("one_per_step", {"random_head": False, "mode": "deterministic"}),
    # the correctness planner, untrained (every c = 1/2): counted on c at f 0.5, no second
    # cell passes the factor test (n + 1)(1 - c) <= f, so one per step
    "learned_correct": ("one_per_step", {"f": 0.5, "count": "correctness"}),
    # restarts over it, counted on the margin: one cell (margin 0), then the rest (margin 1),
    # and the verifying call passes the consistent board
    "learned_backtrack": ("verified", {}),
    "learned_fewstep_correct": ("one_per_step", {"random_head": False}),
    # the learned policy on the weights of the peers' objectives (issue 17)
    "learned_grpo": ("one_per_step", {"random_head": False}),
    "learned_imitation": ("one_per_step", {"random_head": False}),
    "learned_loarm": ("one_per_step", {"random_head": False}),
}


def test_every_policy_has_an_expectation():
    assert set(EXPECT) == set(policy_names())


@pytest.mark.parametrize("name", sorted(EXPECT))
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_policy_on_alternation(name, temperature):
    kind, overrides = EXPECT[name]
    n = N_STAT if kind == "ancestral" else 200
    result = run(name, n, temperature, **overrides)
    if kind == "one_per_step":
        assert valid(result.tokens).all()
        assert (result.nfe == L).all()
    elif kind == "verified":
        assert valid(result.tokens).all()
        assert (result.nfe == 3).all() and (result.rewrites == 0).all()
    elif kind == "bounded":
        assert (result.tokens != 0).all()
        assert (result.nfe == overrides["steps"]).all()
    elif kind == "two_steps":
        assert valid(result.tokens).all()
        assert (result.nfe == 2).all()
        assert ((result.order == 0).sum(-1) == 1).all()
    else:
        # Valid iff the first step's set S is consistent: greedy writes A at every position of
        # S (the argmax of a tie is the first token), so S must lie on one parity; at
        # temperature 1 its tokens are fair coins, consistent with probability 2 / 2^|S|.
        law = first_group_law(overrides["steps"])
        if temperature == 0.0:
            p_invalid = sum(p for s, p in law.items() if len({i % 2 for i in s}) == 2)
        else:
            p_invalid = sum(p * (1 - 2.0 ** (1 - len(s))) for s, p in law.items())
        assert_frequency(~valid(result.tokens), p_invalid, n)
        assert (result.nfe <= overrides["steps"]).all()


@pytest.mark.parametrize("name", ["random_k", "topk_prob", "topk_margin", "entropy"])
def test_all_at_once_greedy_is_always_wrong(name):
    """T = 1 reveals all six positions at 1/2 - 1/2 at once; greedy takes A everywhere."""
    result = run(name, 50, 0.0, steps=1)
    assert (result.tokens == A).all()
    assert (result.nfe == 1).all()


def test_all_at_once_with_temperature_is_valid_two_times_in_two_to_the_l():
    """T = 1 at temperature 1: six independent fair coins, valid with probability 2 / 2^6."""
    result = run("random_k", N_STAT, 1.0, steps=1)
    assert (result.nfe == 1).all()
    assert_frequency(~valid(result.tokens), 1 - 2 / 2 ** L, N_STAT)


def test_one_per_step_greedy_follows_the_first_choice():
    """Greedy confidence order: all ties, so position 0 first (stable order), token A."""
    result = run("topk_prob", 3, 0.0)
    assert (result.tokens == ABAB).all()
    assert (result.order == torch.arange(L)).all()
