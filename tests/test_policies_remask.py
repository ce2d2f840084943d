"""The remasking policies against transcriptions of their authors' rules
(tests/remask_references.py), hand-computed cases, and their bad-input errors."""
from __future__ import annotations

import pytest
import torch

from denoiser.base import FrozenDenoiser
from planner import sample
from planner.context import StepContext
from planner.policies.p2 import P2
from planner.policies.remdm import ReMDM
from planner.policies.token_edit import TokenEdit
from policy_fixtures import ToyDenoiser
from remask_references import block_refinement_step, p2_step, remdm_step_probs

MASK = 0


def random_state(seed: int, batch: int = 3, length: int = 12, vocab: int = 10):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, vocab, (batch, length), generator=g)
    initial = torch.rand(batch, length, generator=g) < 0.8
    masked = initial & (torch.rand(batch, length, generator=g) < 0.5)
    tokens = tokens.masked_fill(masked, MASK)
    logits = torch.randn(batch, length, vocab, generator=g) * 3
    logits[..., MASK] = float("-inf")
    return tokens, initial, masked, logits


def ctx_for(tokens, initial, masked, logits, step):
    return StepContext(logits=logits, tokens=tokens, masked=masked, initial_masked=initial,
                       step=torch.full((tokens.shape[0],), step, dtype=torch.long),
                       rows=torch.arange(tokens.shape[0]))


@pytest.mark.parametrize("schedule,eta", [("cap", 0.008), ("rescale", 0.015), ("loop", 0.02),
                                          ("cap", 0.3), ("rescale", 0.7)])
@pytest.mark.parametrize("steps", [8, 128])
def test_remdm_rates_match_the_reference(schedule, eta, steps):
    policy = ReMDM(steps=steps, schedule=schedule, eta=eta)
    tokens, initial, masked, logits = random_state(steps)
    grid = torch.linspace(1, 1e-5, steps + 1, dtype=torch.float64)
    dt = (1 - 1e-5) / steps
    for j in range(steps):
        ctx = ctx_for(tokens, initial, masked, logits, j)
        unmask, remask = policy._rates(ctx, policy.init_state(initial, None))
        ref_unmask, ref_remask = remdm_step_probs(schedule, float(grid[j]), dt, eta, initial & ~masked)
        assert torch.allclose(unmask.double(), ref_unmask.expand_as(unmask), atol=1e-9), j
        assert torch.allclose(remask.double(), ref_remask.expand_as(remask), atol=1e-12), j


def test_remdm_conf_weights_follow_the_softmax_of_negative_confidence():
    policy = ReMDM(steps=10, schedule="conf")
    tokens, initial, masked, logits = random_state(1)
    state = policy.init_state(initial, None)
    filled = initial & ~masked
    conf = torch.full(tokens.shape, float("-inf"), dtype=torch.float64)
    conf[filled] = -torch.rand(int(filled.sum()), generator=torch.Generator().manual_seed(2)).double()
    state["conf"] = conf.clone()
    for j in (0, 3, 9):
        ctx = ctx_for(tokens, initial, masked, logits, j)
        unmask, remask = policy._rates(ctx, state)
        grid = torch.linspace(1, 1e-5, 11, dtype=torch.float64)
        ref_unmask, ref_remask = remdm_step_probs("conf", float(grid[j]), (1 - 1e-5) / 10, 0.0,
                                                  filled, conf=conf.clone())
        assert torch.allclose(remask.double(), ref_remask, atol=1e-9)
        assert torch.allclose(unmask.double()[masked], ref_unmask[masked], atol=1e-9)


def test_remdm_records_the_drawn_tokens_confidence_for_conf():
    """After a call, each position it unmasked gets conf = -p(its drawn token)."""
    den = ToyDenoiser()
    tokens = torch.zeros(2, 12, dtype=torch.long)
    policy = ReMDM(steps=6, schedule="conf")
    seen = []
    sample(den, policy, tokens, generator=torch.Generator().manual_seed(0),
           callbacks=[lambda rec: seen.append(rec)])
    assert len(seen) == 6 and all(rec.selection.remask is not None for rec in seen)


def test_remdm_spends_exactly_its_steps_and_completes():
    den = ToyDenoiser()
    tokens = torch.zeros(4, 12, dtype=torch.long)
    tokens[1, :3] = 5
    for schedule in ("cap", "rescale", "conf", "loop"):
        r = sample(den, ReMDM(steps=20, schedule=schedule, eta=0.2), tokens,
                   generator=torch.Generator().manual_seed(1), temperature=1.0)
        assert (r.nfe == 20).all() and (r.tokens != MASK).all()
        assert torch.equal(r.tokens[1, :3], tokens[1, :3])
    heavy = sample(den, ReMDM(steps=30, schedule="rescale", eta=1.0), tokens,
                   generator=torch.Generator().manual_seed(1), temperature=1.0)
    assert heavy.rewrites.sum() > 0


@pytest.mark.parametrize("eta", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("steps", [3, 7, 12])
def test_p2_trajectory_matches_the_reference(eta, steps):
    """Whole greedy trajectories: the project's P2 with the reference's scoring
    (`rescore="argmax"`) writes and masks exactly what p2_sampling does."""
    den = ToyDenoiser()
    frozen = FrozenDenoiser(den)
    g = torch.Generator().manual_seed(steps)
    x = torch.randint(1, 10, (3, 12), generator=g)
    x[torch.rand(3, 12, generator=g) < 0.7] = MASK
    fix = x != MASK
    ref = x.clone()
    for i in range(1, steps + 1):
        logits = frozen(ref).logits
        logits[..., MASK] = float("-inf")
        ref = p2_step(logits, ref, fix, MASK, i, steps, eta)
    ref[ref == MASK] = frozen(ref).logits.argmax(-1)[ref == MASK]
    ours = sample(den, P2(steps=steps, eta=eta, rescore="argmax"), x)
    assert torch.equal(ours.tokens, ref)
    assert (ours.nfe[fix.logical_not().any(-1)] == steps).all()


def test_p2_eta_zero_never_remasks_and_current_rescore_differs_only_in_filled_scores():
    den = ToyDenoiser()
    x = torch.zeros(2, 12, dtype=torch.long)
    r = sample(den, P2(steps=6, eta=0.0), x)
    assert (r.rewrites == 0).all()
    tokens, initial, masked, logits = random_state(3)
    ctx = ctx_for(tokens, initial, masked, logits, 2)
    a, b = P2(rescore="argmax").scores(ctx), P2(rescore="current").scores(ctx)
    assert torch.equal(a[masked], b[masked]) and torch.equal(a[~initial], b[~initial])
    # p(written) <= max p, up to float32 rounding: the two come from two float32 softmax paths
    # (ctx.confidence and committed_prob), 3e-9 apart in log on an AVX2-only CPU
    assert (b[initial & ~masked] <= a[initial & ~masked] + 1e-6).all()


@pytest.mark.parametrize("editing_threshold", [None, 0.5, 0.9])
@pytest.mark.parametrize("steps,threshold", [(4, 0.95), (5, 0.6), (12, 0.3)])
def test_token_edit_trajectory_matches_the_block_refinement_scheduler(steps, threshold,
                                                                      editing_threshold):
    """Greedy, one block = the generated positions: the same commits and edits per step as
    diffusers' BlockRefinementScheduler, then edit-only steps until one edits nothing."""
    den = ToyDenoiser(sharpness=8.0)
    frozen = FrozenDenoiser(den)
    g = torch.Generator().manual_seed(steps)
    x = torch.randint(1, 10, (1, 12), generator=g)
    x[0, 3:] = MASK
    prompt = x != MASK
    n = int((~prompt).sum())
    schedule = [n // steps + (1 if j < n % steps else 0) for j in range(steps)]
    ref, calls, post = x.clone(), 0, 0
    while True:
        logits = frozen(ref).logits
        logits[..., MASK] = float("-inf")
        calls += 1
        had_masks = bool((ref == MASK).any())
        quota = schedule[min(calls - 1, steps - 1)]
        transfer, edit, token = block_refinement_step(logits, ref, MASK, quota, threshold,
                                                      editing_threshold, prompt)
        ref = torch.where(transfer | edit, token, ref)
        if not had_masks:
            post += 1
        if editing_threshold is None and not (ref == MASK).any():
            break
        if not had_masks and (not edit.any() or post >= 16):
            break
    ours = sample(den, TokenEdit(steps=steps, threshold=threshold,
                                 editing_threshold=editing_threshold), x)
    assert torch.equal(ours.tokens, ref)
    assert int(ours.nfe) == calls


@pytest.mark.parametrize("build,match", [
    (lambda: ReMDM(eta=-0.1), "eta"),
    (lambda: ReMDM(schedule="loopy"), "schedule"),
    (lambda: ReMDM(schedule="loop", t_on=0.1, t_off=0.2), "t_off"),
    (lambda: P2(eta=-1.0), "eta"),
    (lambda: P2(rescore="x"), "rescore"),
    (lambda: TokenEdit(threshold=1.0), "threshold"),
    (lambda: TokenEdit(editing_threshold=0.0), "editing_threshold"),
    (lambda: TokenEdit(max_post_steps=-1), "max_post_steps"),
])
def test_bad_knobs_name_the_value(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_max_nfe_below_the_schedule_is_refused():
    with pytest.raises(ValueError, match="max_nfe=5 is below the 10 calls"):
        sample(ToyDenoiser(), ReMDM(steps=10), torch.zeros(1, 12, dtype=torch.long), max_nfe=5)
    with pytest.raises(ValueError, match="max_nfe must be a positive integer"):
        sample(ToyDenoiser(), "topk_margin", torch.zeros(1, 12, dtype=torch.long), max_nfe=0)
