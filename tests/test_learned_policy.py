"""The learned policy: loading a planner checkpoint, and refusing one made for another
denoiser, vocabulary or length."""
import pytest
import torch

from denoiser.base import FrozenDenoiser
from planner import load_policy, sample
from policy_fixtures import ToyDenoiser, toy_planner_path


def test_runs_with_the_denoiser_it_was_trained_for():
    path = toy_planner_path(ToyDenoiser())
    tokens = torch.zeros(3, 12, dtype=torch.long)
    for mode in ("deterministic", "sample"):
        result = sample(ToyDenoiser(), load_policy("learned", path=path, mode=mode), tokens,
                        generator=torch.Generator().manual_seed(0))
        assert (result.tokens != 0).all()


def test_refuses_another_denoiser_with_the_same_shapes():
    path = toy_planner_path(ToyDenoiser(seed=0))
    with pytest.raises(ValueError, match="trained for another denoiser"):
        sample(ToyDenoiser(seed=1), load_policy("learned", path=path), torch.zeros(1, 12, dtype=torch.long))


@pytest.mark.parametrize("other, message", [
    (ToyDenoiser(vocab_size=11), r"vocab_size=10, but 11 was expected"),
    (ToyDenoiser(length=16), r"max_length=12, but 16 was expected"),
])
def test_refuses_another_vocabulary_or_length(other, message):
    path = toy_planner_path(ToyDenoiser())
    with pytest.raises(ValueError, match=message):
        sample(other, load_policy("learned", path=path), torch.zeros(1, 12, dtype=torch.long))


def test_refuses_a_folder_that_is_not_a_planner(tmp_path):
    ToyDenoiser()  # a denoiser checkpoint is not a planner
    from denoiser import MDMConfig, MDMTransformer
    MDMTransformer(MDMConfig(10, 0, 12, d_model=16, n_layers=1, n_heads=2, d_ff=32)).save_pretrained(tmp_path / "d")
    with pytest.raises(ValueError, match="expected 'order_planner'"):
        load_policy("learned", path=str(tmp_path / "d"))


@pytest.mark.parametrize("knob, value, message", [
    ("mode", "greedy", "mode must be one of"),
    ("threshold", 1.0, r"threshold must be in \(0, 1\)"),
    ("beta", -0.1, "beta must be >= 0"),
])
def test_knobs_out_of_range(knob, value, message):
    with pytest.raises(ValueError, match=message):
        load_policy("learned", path=toy_planner_path(ToyDenoiser()), **{knob: value})


def test_frozen_identity_is_the_weights_fingerprint():
    a, b = FrozenDenoiser(ToyDenoiser(seed=0)), FrozenDenoiser(ToyDenoiser(seed=0))
    assert a.identity == b.identity == a.fingerprint()
    assert FrozenDenoiser(ToyDenoiser(seed=2)).identity != a.identity
