import math

import pytest
import torch

from denoiser import FrozenDenoiser, MDMConfig, MDMTransformer, masked_diffusion_loss
from denoiser.base import Denoiser, DenoiserOutput
from denoiser.objective import low_discrepancy_times


def tiny(structure="sudoku", **kw):
    length = 81 if structure == "sudoku" else kw.pop("max_length", 12)
    cfg = MDMConfig(vocab_size=kw.pop("vocab_size", 10), mask_id=0, max_length=length, d_model=16,
                    n_layers=1, n_heads=2, d_ff=32, structure=structure)
    torch.manual_seed(0)
    return MDMTransformer(cfg)


def test_forward_shapes_and_mask_logit():
    model = tiny()
    x = torch.randint(0, 10, (3, 81))
    out = model(x, return_hidden=True)
    assert out.logits.shape == (3, 81, 10)
    assert out.hidden.shape == (3, 81, 16)
    assert torch.isinf(out.logits[..., 0]).all() and (out.logits[..., 0] < 0).all()
    assert model(x).hidden is None


def test_save_load_round_trip_and_refusals(tmp_path):
    model = tiny()
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = MDMTransformer.from_pretrained(tmp_path / "m", vocab_size=10, max_length=81, mask_id=0)
    x = torch.randint(0, 10, (2, 81))
    assert torch.equal(model(x).logits, loaded(x).logits)
    with pytest.raises(ValueError, match=r"vocab_size=10, but 66 was expected"):
        MDMTransformer.from_pretrained(tmp_path / "m", vocab_size=66)
    with pytest.raises(ValueError, match=r"max_length=81, but 128 was expected"):
        MDMTransformer.from_pretrained(tmp_path / "m", max_length=128)
    with pytest.raises(FileNotFoundError, match="expected config.json and model.safetensors"):
        MDMTransformer.from_pretrained(tmp_path / "nothing")


def test_save_replaces_atomically(tmp_path):
    a, b = tiny(), tiny(structure="sequence", max_length=12)
    a.save_pretrained(tmp_path / "m")
    b.save_pretrained(tmp_path / "m")
    assert MDMTransformer.from_pretrained(tmp_path / "m").config.structure == "sequence"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]   # no temporary folder left behind


def test_config_errors():
    with pytest.raises(ValueError, match="mask_id 10 must be a token id in"):
        MDMConfig(vocab_size=10, mask_id=10, max_length=81)
    with pytest.raises(ValueError, match="structure must be one of"):
        MDMConfig(vocab_size=10, mask_id=0, max_length=81, structure="grid")
    with pytest.raises(ValueError, match="needs max_length 81"):
        MDMConfig(vocab_size=10, mask_id=0, max_length=64, structure="sudoku")


def test_frozen_denoiser_is_frozen_and_outputs_are_usable_in_autograd():
    model = tiny()
    frozen = FrozenDenoiser(model)
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    before = frozen.fingerprint()
    out = frozen(torch.randint(0, 10, (2, 81)), return_hidden=True)
    assert not out.logits.is_inference() and not out.hidden.is_inference()
    layer = torch.nn.Linear(16, 1)
    layer(out.hidden).sum().backward()              # trainable layers may consume the features
    assert layer.weight.grad is not None
    assert frozen.fingerprint() == before
    assert frozen.calls == 2


@pytest.mark.parametrize("tokens, error, message", [
    (torch.zeros(2, 81), TypeError, "int64 or int32"),
    (torch.zeros(81, dtype=torch.long), ValueError, r"\[batch, length\], got shape \(81,\)"),
    (torch.full((1, 81), 10), ValueError, r"token id 10 is outside the vocabulary \[0, 10\)"),
    (torch.zeros(1, 82, dtype=torch.long), ValueError, "length 82 exceeds"),
])
def test_bad_tokens_are_refused(tokens, error, message):
    with pytest.raises(error, match=message):
        FrozenDenoiser(tiny())(tokens)


def test_low_discrepancy_times_are_stratified():
    t = low_discrepancy_times(8, torch.Generator().manual_seed(0), eps=0.0)
    gaps = torch.diff(torch.sort(t).values)
    assert torch.allclose(gaps, torch.full_like(gaps, 1 / 8), atol=1e-6)


class Uniform(Denoiser):
    """Uniform over the 9 digits: its loss per token is log 9 in expectation at every t."""
    mask_id, vocab_size, max_length = 0, 10, 81

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, tokens, return_hidden=False):
        logits = torch.zeros(*tokens.shape, 10) + self.w
        logits[..., 0] = float("-inf")
        return DenoiserOutput(logits)


def test_objective_matches_its_closed_form_for_a_uniform_model():
    # E[sum_masked CE / t] / n = log 9 * E[#masked] / (t n) = log 9: an independent route.
    g = torch.Generator().manual_seed(0)
    x0 = torch.randint(1, 10, (4096, 81))
    loss, _ = masked_diffusion_loss(Uniform(), x0, g)
    assert abs(loss.item() - math.log(9)) < 0.02


def test_objective_ignores_positions_that_may_not_be_masked():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randint(1, 10, (4096, 81))
    maskable = torch.zeros(4096, 81, dtype=torch.bool)
    maskable[:, :10] = True
    loss, _ = masked_diffusion_loss(Uniform(), x0, g, maskable=maskable)
    assert abs(loss.item() - math.log(9)) < 0.1   # normalised by the maskable count
