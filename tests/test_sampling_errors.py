"""Clear errors, naming the bad value, for what `sample()` and the policies cannot take."""
from __future__ import annotations

import re

import pytest
import torch

from planner import load_policy, sample
from planner.background import load_frequency, save_frequency, token_frequency
from planner.policies.pc import PCSampler
from policy_fixtures import ToyDenoiser

LENGTH, MASK = 12, 0


def tokens(batch=2):
    t = torch.full((batch, LENGTH), MASK, dtype=torch.long)
    t[:, 0] = 3
    return t


def test_no_masked_position_returns_at_once():
    full = torch.randint(1, 10, (3, LENGTH), generator=torch.Generator().manual_seed(0))
    result = sample(ToyDenoiser(), "topk_margin", full)
    assert torch.equal(result.tokens, full)
    assert (result.nfe == 0).all()
    assert (result.order == -1).all()


def test_token_outside_vocabulary():
    bad = tokens()
    bad[1, 4] = 10
    with pytest.raises(ValueError, match=r"token id 10 is outside the vocabulary \[0, 10\)"):
        sample(ToyDenoiser(), "topk_margin", bad)
    bad[1, 4] = -1
    with pytest.raises(ValueError, match="token id -1 is outside"):
        sample(ToyDenoiser(), "topk_margin", bad)


def test_mask_id_mismatch():
    with pytest.raises(ValueError, match="mask_id 5 does not match the denoiser's mask_id 0"):
        sample(ToyDenoiser(), "topk_margin", tokens(), mask_id=5)


def test_float_tokens():
    with pytest.raises(TypeError, match="got dtype torch.float32"):
        sample(ToyDenoiser(), "topk_margin", tokens().float())


@pytest.mark.parametrize("shape", [(LENGTH,), (2, 3, LENGTH)])
def test_wrong_shape(shape):
    bad = torch.zeros(shape, dtype=torch.long)
    with pytest.raises(ValueError, match=re.escape(f"must be [batch, length], got shape {shape}")):
        sample(ToyDenoiser(), "topk_margin", bad)


def test_too_long():
    with pytest.raises(ValueError, match="length 13 exceeds the denoiser's max_length 12"):
        sample(ToyDenoiser(), "topk_margin", torch.zeros(1, 13, dtype=torch.long))


def test_negative_temperature():
    with pytest.raises(ValueError, match="temperature must be a number >= 0, got -1"):
        sample(ToyDenoiser(), "topk_margin", tokens(), temperature=-1.0)


def test_unknown_policy_name():
    with pytest.raises(ValueError, match="unknown policy 'no_such_policy'"):
        sample(ToyDenoiser(), "no_such_policy", tokens())
    with pytest.raises(ValueError, match="unknown policy 'no_such_policy'"):
        load_policy("no_such_policy")


STEP_POLICIES = ["random_k", "topk_prob", "topk_margin", "entropy", "semi_ar", "pc",
                 "hyperschedule_block", "hyperschedule_window"]


@pytest.mark.parametrize("name", STEP_POLICIES + ["random"])
@pytest.mark.parametrize("steps", [0, -3, 2.5, True])
def test_steps_out_of_range(name, steps):
    with pytest.raises(ValueError, match=f"steps must be a positive integer.*got {steps!r}"):
        load_policy(name, steps=steps)


def test_random_needs_a_step_count():
    with pytest.raises(ValueError, match="steps must be a positive integer, got None"):
        load_policy("random", steps=None)


@pytest.mark.parametrize("name", ["random_k", "topk_prob", "topk_margin", "entropy", "pc"])
def test_unknown_schedule(name):
    with pytest.raises(ValueError, match="schedule must be one of .* got 'linear'"):
        load_policy(name, schedule="linear")


@pytest.mark.parametrize("name,knob,value,message", [
    ("threshold", "tau", 0.0, r"tau must be a number in the open interval \(0, 1\), got 0.0"),
    ("threshold", "tau", 1.0, r"tau must be .* \(0, 1\), got 1.0"),
    ("threshold", "tau", -0.5, r"tau must be .* got -0.5"),
    ("threshold", "tau", "high", r"tau must be .* got 'high'"),
    ("factor", "f", 0.0, r"f must be a finite number > 0, got 0.0"),
    ("factor", "f", -1.0, r"f must be a finite number > 0, got -1.0"),
    ("factor_margin", "f", float("inf"), r"f must be a finite number > 0, got inf"),
    ("eb", "gamma", -0.01, r"gamma must be a number >= 0 \(nats\), got -0.01"),
    ("eb", "gamma", float("nan"), r"gamma must be .* got nan"),
    ("eb", "proxy", "margins", r"proxy must be one of \['confidence', 'entropy', 'margin'\], got 'margins'"),
    ("semi_ar", "block_length", 0, r"block_length must be a positive integer, got 0"),
    ("semi_ar", "score", "best", r"unknown score 'best'; expected one of"),
    ("hyperschedule_block", "w", 0, r"w \(block width\) must be a positive integer, got 0"),
    ("hyperschedule_window", "w", -2, r"w \(window width\) must be a positive integer, got -2"),
    ("pc", "lam", -0.1, r"lam \(lambda\) must be a finite number >= 0, got -0.1"),
    ("pc", "alpha", 0.0, r"alpha must be a number > 0, got 0.0"),
    ("pc", "frequency", [0.5, 0.0, 0.5], r"frequency must be finite and > 0 everywhere"),
    ("pc", "frequency", "weights/background/no_such_task.json", r"no background frequency file at .*no_such_task.json"),
])
def test_knob_out_of_range(name, knob, value, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        load_policy(name, **{knob: value})


def test_pc_frequency_for_another_vocabulary(tmp_path):
    path = tmp_path / "bg.json"
    save_frequency(path, token_frequency(torch.tensor([[1, 2, 2]]), 3), {"task": "toy"})
    with pytest.raises(ValueError, match=r"vocab_size=3, but 10 was expected: it was computed for another vocabulary"):
        load_frequency(path, 10)
    policy = PCSampler(frequency=str(path))           # no vocabulary known yet: checked at use
    with pytest.raises(ValueError, match="background frequency has 3 entries but the denoiser's vocabulary has 10"):
        sample(ToyDenoiser(), policy, tokens())
