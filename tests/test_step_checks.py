"""The sampling loop's checks (`planner/checks.py`): options, and the denoiser's output once per
call. Every case runs under a deadline: before these checks some of them never returned."""
from __future__ import annotations

import pytest
import torch

from denoiser.base import Denoiser, DenoiserOutput
from planner import sample
from planner.checks import check_generator, check_step_output, check_temperature
from policy_fixtures import ToyDenoiser, make_policy
from deadline import within

LENGTH, VOCAB, MASK = 12, 10, 0


def tokens(batch=2):
    t = torch.full((batch, LENGTH), MASK, dtype=torch.long)
    t[:, 0] = 3
    return t


class Broken(Denoiser):
    """ToyDenoiser's logits, then `spoil(logits)` applied in place."""

    def __init__(self, spoil, width=VOCAB):
        super().__init__()
        self.inner, self.spoil, self.width = ToyDenoiser(), spoil, width
        self.vocab_size, self.max_length, self.mask_id = VOCAB, LENGTH, MASK

    def forward(self, x, return_hidden=False):
        out = self.inner(x, return_hidden)
        logits = out.logits[..., :self.width].clone()
        self.spoil(logits)
        return DenoiserOutput(logits, out.hidden)


def set_cells(value, where=(0, 5, 2)):
    def spoil(logits):
        logits[where] = value
    return spoil


@pytest.mark.parametrize("temperature", [float("nan"), float("inf"), -1.0, "1", True])
def test_temperature_must_be_finite_and_not_negative(temperature):
    with pytest.raises(ValueError, match=f"temperature must be a number >= 0, got {temperature!r}"):
        within(10, sample, ToyDenoiser(), "topk_margin", tokens(), temperature=temperature)


@pytest.mark.parametrize("generator", [0, 1234, "seed"])
def test_generator_must_be_a_torch_generator(generator):
    with pytest.raises(TypeError, match=f"generator must be a torch.Generator or None, got {generator!r}"):
        sample(ToyDenoiser(), "topk_margin", tokens(), generator=generator, temperature=1.0)


@pytest.mark.parametrize("name", ["topk_margin", "threshold", "random_k", "learned"])
@pytest.mark.parametrize("value,what", [(float("nan"), "NaN"), (float("inf"), r"\+inf")])
def test_nan_or_inf_logits_are_refused(name, value, what):
    model = Broken(set_cells(value))
    policy = make_policy(name, model)
    with pytest.raises(ValueError, match=f"returned {what} logits at 1 cell.*sequence 0, position 5, token 2"):
        within(20, sample, model, policy, tokens(), temperature=1.0,
               generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_all_minus_inf_logits_are_refused_not_looped_on(temperature):
    model = Broken(lambda logits: logits.fill_(float("-inf")))
    with pytest.raises(ValueError, match=r"left no token to choose at 22 masked position\(s\)"):
        within(10, sample, model, "topk_margin", tokens(), temperature=temperature)


def test_logits_finite_only_at_the_mask_column_are_refused():
    def spoil(logits):
        logits.fill_(float("-inf"))
        logits[..., MASK] = 5.0
    with pytest.raises(ValueError, match=r"every logit but the mask column \(0\) is -inf"):
        within(10, sample, Broken(spoil), "topk_margin", tokens())


def test_a_given_position_may_rule_out_every_token():
    def spoil(logits):
        logits[:, 0, :] = float("-inf")      # position 0 is a given in every row
    result = within(20, sample, Broken(spoil), "topk_margin", tokens())
    assert not (result.tokens == MASK).any()


def test_logits_of_the_wrong_width_are_refused():
    with pytest.raises(ValueError, match=r"logits of shape \(2, 12, 5\); expected \(2, 12, 10\)"):
        within(10, sample, Broken(lambda logits: None, width=5), "topk_margin", tokens())


def test_nan_in_the_mask_column_is_ignored():
    result = within(20, sample, Broken(set_cells(float("nan"), (..., MASK))), "topk_margin", tokens())
    assert not (result.tokens == MASK).any()


def test_nothing_masked_warns():
    full = torch.randint(1, VOCAB, (2, LENGTH), generator=torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning, match="no position of tokens .* holds the denoiser's mask_id 0"):
        result = sample(ToyDenoiser(), "topk_margin", full)
    assert (result.nfe == 0).all()


def test_check_functions_directly():
    assert check_temperature(0) == 0.0 and check_temperature(0.5) == 0.5
    g = torch.Generator()
    assert check_generator(g) is g and check_generator(None) is None
    masked = torch.zeros(1, 3, dtype=torch.bool)
    masked[0, 1] = True
    logits = torch.zeros(1, 3, 4)
    check_step_output(logits, masked, 4, 0)
    logits[0, 1, 1:] = float("-inf")
    with pytest.raises(ValueError, match="first: sequence 0, position 1"):
        check_step_output(logits, masked, 4, 0, where="here")
    logits[0, 1, 3] = 0.0
    check_step_output(logits, masked, 4, 0)
    with pytest.raises(ValueError, match="here returned logits of shape"):
        check_step_output(logits[..., :3], masked, 4, 0, where="here")


def test_teacher_forcing_checks_the_denoiser_too():
    from planner.order_likelihood import order_log_likelihood
    x = torch.randint(1, VOCAB, (2, LENGTH), generator=torch.Generator().manual_seed(0))
    generate = torch.ones(2, LENGTH, dtype=torch.bool)
    with pytest.raises(ValueError, match="returned NaN logits"):
        within(10, order_log_likelihood, Broken(set_cells(float("nan"))), "topk_margin", x, generate)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got 0"):
        order_log_likelihood(ToyDenoiser(), "random_k", x, generate, generator=0)
