"""Self-verified backtracking: the verification call, what a failing board undoes, bans,
restarts, the best board restored at the bound, and its knob errors."""
from __future__ import annotations

import pytest
import torch

from planner import load_policy, sample
from planner.context import StepContext
from planner.policies.backtrack import Backtrack
from policy_fixtures import AlternationDenoiser

VOCAB = 4   # mask + three tokens


def board_ctx(p_written, commit_steps, step=10, last=False, initial=None):
    """A completed row of 5 cells: cell i holds token 1 with probability p_written[i]
    (token 2 takes the rest); `commit_steps` is what the policy recorded."""
    n = len(p_written)
    probs = torch.zeros(1, n, VOCAB, dtype=torch.float64)
    p = torch.tensor(p_written, dtype=torch.float64)
    probs[0, :, 1], probs[0, :, 2] = p, 1 - p
    tokens = torch.ones(1, n, dtype=torch.long)
    initial = torch.ones(1, n, dtype=torch.bool) if initial is None else torch.tensor([initial])
    ctx = StepContext(logits=probs.clamp(min=1e-12).log().float(), tokens=tokens,
                      masked=torch.zeros(1, n, dtype=torch.bool), initial_masked=initial,
                      step=torch.tensor([step]), rows=torch.tensor([0]),
                      last_call=torch.tensor([last]))
    return ctx


def fresh(policy, ctx, commit_steps):
    state = policy.init_state(ctx.initial_masked, None)
    state["commit"][0] = torch.tensor(commit_steps)
    return state


def test_a_board_that_passes_ends_the_row():
    policy = Backtrack(accept=0.8, mode="backtrack")
    ctx = board_ctx([0.99, 0.9, 0.85, 0.95, 0.81], [0, 1, 2, 3, 4])
    sel = policy.select(ctx, fresh(policy, ctx, [0, 1, 2, 3, 4]))
    assert not sel.chosen.any() and not sel.remask.any() and not bool(sel.revisit[0])


def test_a_failing_board_goes_back_to_its_weakest_cell_and_bans_its_token():
    """Cell 2 is the weakest (0.3), committed at step 1: every cell committed at step >= 1
    (cells 1, 2, 4) is remasked, cell 2's token 1 is banned there, and the row goes on."""
    policy = Backtrack(accept=0.8, mode="backtrack")
    ctx = board_ctx([0.99, 0.9, 0.3, 0.95, 0.7], [0, 1, 1, 0, 3])
    state = fresh(policy, ctx, [0, 1, 1, 0, 3])
    sel = policy.select(ctx, state)
    assert sel.remask[0].tolist() == [False, True, True, False, True]
    assert bool(sel.revisit[0]) and not sel.chosen.any()
    assert state["banned"][0, 2, 1] and int(state["banned"].sum()) == 1
    assert state["commit"][0].tolist() == [0, -1, -1, 0, -1]


def test_earliest_target_goes_back_to_the_first_doubtful_commit():
    """Cells below accept: 4 (0.7, step 1) and 2 (0.3, step 3): `earliest` goes back to
    step 1 and bans cell 4's token, `weakest` to step 3 and bans cell 2's."""
    ctx = board_ctx([0.99, 0.9, 0.3, 0.95, 0.7], [0, 2, 3, 0, 1])
    early = Backtrack(accept=0.8, mode="backtrack", target="earliest")
    state = fresh(early, ctx, [0, 2, 3, 0, 1])
    assert early.select(ctx, state).remask[0].tolist() == [False, True, True, False, True]
    assert state["banned"][0, 4, 1]
    weak = Backtrack(accept=0.8, mode="backtrack", target="weakest")
    state = fresh(weak, ctx, [0, 2, 3, 0, 1])
    assert weak.select(ctx, state).remask[0].tolist() == [False, False, True, False, False]
    assert state["banned"][0, 2, 1]


def test_givens_are_never_remasked_and_restart_remasks_every_other_cell():
    ctx = board_ctx([0.99, 0.2, 0.9, 0.95, 0.9], [-1, 0, 1, -1, 2],
                    initial=[False, True, True, False, True])
    policy = Backtrack(accept=0.8, mode="restart")
    state = fresh(policy, ctx, [-1, 0, 1, -1, 2])
    sel = policy.select(ctx, state)
    assert sel.remask[0].tolist() == [False, True, True, False, True]
    assert int(state["passes"][0]) == 1 and not state["banned"].any()


def test_the_best_verified_board_is_restored_at_the_last_call():
    policy = Backtrack(accept=0.95)
    good = board_ctx([0.9, 0.9, 0.9, 0.9, 0.9], [0, 1, 2, 3, 4])
    state = fresh(policy, good, [0, 1, 2, 3, 4])
    policy.select(good, state)                          # fails (0.9 < 0.95), kept as best
    assert state["best_score"][0] == pytest.approx(0.9, abs=1e-6)
    worse = board_ctx([0.9, 0.2, 0.9, 0.9, 0.9], [0, 1, 2, 3, 4], last=True)
    worse.tokens[0, 1] = 2                              # a different board in hand
    sel = policy.select(worse, state)
    assert sel.edit[0].tolist() == [False, True, False, False, False]
    assert sel.tokens[0, 1] == 1 and not sel.remask.any()


def test_end_to_end_a_consistent_board_costs_one_verification_call():
    """On the exact alternation denoiser the margin order always completes a consistent
    board (every cell then has p = 1): one extra call verifies it, and the tokens are the
    inner policy's."""
    den = AlternationDenoiser(length=6)
    x = torch.zeros(3, 6, dtype=torch.long)
    x[1, 2] = 2
    inner = sample(den, "topk_margin", x)
    ours = sample(den, load_policy("backtrack", max_nfe=40, inner="topk_margin", inner_knobs=None), x)
    assert torch.equal(ours.tokens, inner.tokens)
    assert torch.equal(ours.nfe, inner.nfe + 1)
    assert (ours.rewrites == 0).all()


@pytest.mark.parametrize("knobs,match", [
    ({"accept": 1.0}, "accept"), ({"accept": 0}, "accept"), ({"max_nfe": 1}, "max_nfe"),
    ({"mode": "undo"}, "mode"), ({"target": "x"}, "target"), ({"check": "x"}, "check"),
    ({"perturb": -1.0}, "perturb"), ({"trigger": 1.5}, "trigger"),
    ({"inner": "p2"}, "inner"), ({"inner": "random"}, "inner"), ({"keep_best": 1}, "keep_best"),
])
def test_bad_knobs_name_the_value(knobs, match):
    with pytest.raises(ValueError, match=match):
        Backtrack(**knobs)


def test_a_cell_it_writes_never_has_every_token_banned():
    """If bans would leave a cell the step writes without a token, they are lifted there
    (the loop could not draw one)."""
    policy = Backtrack(mode="backtrack", inner="topk_margin", inner_knobs=None)
    ctx = board_ctx([0.99, 0.9, 0.9, 0.95, 0.9], [0, 1, 2, 3, 4])
    ctx.masked[0, 2] = True
    ctx.tokens[0, 2] = 0
    state = fresh(policy, ctx, [0, 1, -1, 3, 4])
    state["banned"] = torch.zeros(1, 5, VOCAB, dtype=torch.bool)
    state["banned"][0, 2, :] = True
    sel = policy.select(ctx, state)
    assert sel.chosen[0].tolist() == [False, False, True, False, False]
    assert not sel.banned[0, 2].all() and not state["banned"][0, 2].any()


def test_restored_tokens_are_written_even_where_the_step_bans_them():
    """A policy that restores a board it remembers supplies its tokens; the loop's check that
    a drawn token is not banned applies only where the loop draws (the bug a selection run hit)."""
    from planner.policy import Policy, Selection
    from policy_fixtures import ToyDenoiser

    class Restore(Policy):
        revises = True
        max_nfe = 2

        def select(self, ctx, state=None):
            board = torch.full_like(ctx.tokens, 3)
            if bool(ctx.last_call.all()):
                banned = torch.zeros((*ctx.tokens.shape, 10), dtype=torch.bool)
                banned[..., 3] = True                       # 3 is banned, yet restored
                filled = ctx.initial_masked & ~ctx.masked
                return Selection(ctx.masked, edit=filled & (ctx.tokens != 3), tokens=board,
                                 banned=banned)
            return Selection(ctx.masked, revisit=torch.ones_like(ctx.masked[:, 0]))

    result = sample(ToyDenoiser(), Restore(), torch.zeros(2, 12, dtype=torch.long))
    assert (result.tokens == 3).all() and (result.nfe == 2).all()


def test_a_restarted_pass_reads_finite_perturbed_logits_that_move_with_the_scale():
    """After the portfolio is used up, the inner rule reads Gumbel-perturbed logits: finite
    scores, and a larger `perturb` moves them further."""
    from policy_fixtures import ToyDenoiser
    from denoiser.base import FrozenDenoiser

    frozen = FrozenDenoiser(ToyDenoiser())
    tokens = torch.zeros(3, 12, dtype=torch.long)
    logits = frozen(tokens).logits
    ctx = StepContext(logits=logits, tokens=tokens, masked=tokens == 0,
                      initial_masked=tokens == 0, step=torch.zeros(3, dtype=torch.long),
                      rows=torch.arange(3), generator=torch.Generator().manual_seed(0))
    spread = []
    for perturb in (0.0, 0.3, 3.0):
        policy = Backtrack(mode="restart", inner="topk_margin", inner_knobs=None, perturb=perturb)
        state = policy.init_state(ctx.initial_masked, None)
        state["passes"][:] = 1
        ctx.generator = torch.Generator().manual_seed(0)
        _, scores = policy._decode(ctx, torch.zeros(*logits.shape, dtype=torch.bool), state)
        assert torch.isfinite(scores).all()
        spread.append(scores)
    assert (spread[1] - spread[0]).abs().max() < (spread[2] - spread[0]).abs().max()
    assert not torch.equal(spread[1], spread[0])


def test_each_inner_policy_sees_its_own_rows_with_their_padding_and_last_call():
    """Rows on different passes go to different inner policies; each sees a context of its
    rows only, with every per-row field narrowed (padding, last_call, step, rows)."""
    from policy_fixtures import ToyDenoiser
    from denoiser.base import FrozenDenoiser
    from planner.policy import Selection

    class Recorder:
        def __init__(self):
            self.seen = []

        def select(self, ctx, state):
            self.seen.append(ctx)
            return Selection(chosen=ctx.masked & False)

    tokens = torch.zeros(3, 12, dtype=torch.long)
    logits = FrozenDenoiser(ToyDenoiser())(tokens).logits
    padding = torch.zeros(3, 12, dtype=torch.bool)
    padding[1, 9:] = True
    ctx = StepContext(logits=logits, tokens=tokens, masked=(tokens == 0) & ~padding,
                      initial_masked=(tokens == 0) & ~padding, step=torch.tensor([3, 4, 5]),
                      rows=torch.tensor([7, 8, 9]), last_call=torch.tensor([False, True, False]),
                      padding=padding)
    policy = Backtrack(mode="restart", inner=["topk_margin", "topk_margin"], inner_knobs=[{}, {}])
    policy._inners = [Recorder(), Recorder()]
    state = policy.init_state(torch.ones(10, 12, dtype=torch.bool), None)
    state["passes"][8] = 1       # row 8 (the second) is on its second pass: the second inner
    policy._decode(ctx, torch.zeros(*logits.shape, dtype=torch.bool), state)
    (first,), (second,) = policy._inners[0].seen, policy._inners[1].seen
    assert first.rows.tolist() == [7, 9] and second.rows.tolist() == [8]
    assert torch.equal(second.padding, padding[1:2]) and second.last_call.tolist() == [True]
    assert torch.equal(first.padding, padding[[0, 2]]) and first.last_call.tolist() == [False, False]
    assert first.step.tolist() == [3, 5] and torch.equal(second.logits, logits[1:2])
