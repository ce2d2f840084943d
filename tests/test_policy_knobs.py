"""Issue 16's knobs refuse bad values with errors naming the value and what was expected, and
the loop accepts empty steps only from a policy that allows them."""
from __future__ import annotations

import pytest
import torch

from planner import load_policy, sample
from planner.policies.semi_ar import SemiAutoregressive
from planner.policy import Policy, Selection
from policy_fixtures import ToyDenoiser, make_ctx, probs_with_confidence


@pytest.mark.parametrize("name,overrides,message", [
    ("threshold", {"block_length": 0}, "block_length must be a positive integer or None, got 0"),
    ("semi_ar", {"block_origin": "prompt"}, "block_origin must be one of"),
    ("topk_prob", {"alg_temp": -1.0}, "alg_temp must be None or a finite number >= 0"),
    ("topk_prob", {"top_p": 0.9}, "need distribution='sampling'"),
    ("topk_prob", {"distribution": "sampling", "top_p": 1.5}, r"top_p must be None or a number in \(0, 1\]"),
    ("topk_prob", {"distribution": "sampling", "top_k": 0}, "top_k must be None or a positive integer"),
    ("topk_prob", {"confidence": "top", "zero_confidence_tokens": [1]}, "need confidence='sampled'"),
    ("topk_prob", {"confidence": "max"}, "confidence must be one of"),
    ("entropy", {"schedule": "dream", "eps": 0.0}, r"eps must be a number in \(0, 1\)"),
    ("eb", {"t_max": 0.8}, "needs t_max, t_min and anneal_steps together"),
    ("eb", {"t_max": 0.8, "t_min": -1.0, "anneal_steps": 4}, "t_min must be a finite number > 0"),
    ("threshold", {"inclusive": "yes"}, "inclusive must be true or false"),
    ("pc", {"position": "linear", "lam": 2.0}, r"must be in \[0, 1\]"),
    ("pc", {"position": "cosine"}, "position must be one of"),
    ("semi_ar", {"ban_tokens": [-1]}, "ban_tokens must hold non-negative integer token ids"),
    ("semi_ar", {"score": "margin", "zero_confidence_tokens": [2]}, "apply to score='confidence'"),
    ("hyperschedule_hybrid", {"tau": 0}, r"tau \(noise levels\) must be a positive integer, got 0"),
])
def test_bad_knobs(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        load_policy(name, **overrides)


def test_a_banned_token_outside_the_vocabulary_is_named():
    ctx = make_ctx(probs_with_confidence([0.9, 0.6]))
    with pytest.raises(ValueError, match=r"token id 7, outside the denoiser's vocabulary \[0, 4\)"):
        SemiAutoregressive(block_length=2, ban_tokens=[7]).select(ctx, None)


class EmptyFirst(Policy):
    """Chooses nothing at a row's first step, then everything (two calls: its max_nfe, which a
    loop bounding policies with empty steps reads)."""

    max_nfe = 2

    def __init__(self, allows: bool):
        self.allows_empty_steps = allows

    def select(self, ctx, state=None):
        return Selection(ctx.masked & (ctx.step > 0)[:, None])


def test_empty_steps_cost_a_call_where_allowed_and_are_refused_elsewhere():
    tokens = torch.zeros(2, 12, dtype=torch.long)
    result = sample(ToyDenoiser(), EmptyFirst(True), tokens)
    assert result.nfe.tolist() == [2, 2] and (result.order == 1).all()
    with pytest.raises(RuntimeError, match="chose no position for some sequence"):
        sample(ToyDenoiser(), EmptyFirst(False), tokens)


def test_guidance_knobs():
    from denoiser.guidance import ClassifierFreeGuidance
    with pytest.raises(ValueError, match="cfg_scale\\) must be a finite number >= 0, got -1"):
        ClassifierFreeGuidance(ToyDenoiser(), -1, 2)
    with pytest.raises(ValueError, match="prompt_length must be an integer >= 0, got 1.5"):
        ClassifierFreeGuidance(ToyDenoiser(), 1.0, 1.5)
