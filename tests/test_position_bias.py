"""ALiBi's distance bias on a Hugging Face BertForMaskedLM (denoiser/position_bias.py), given
through the attention mask: its values by hand, that the model really attends by it, and that
the slopes ride in the saved folder and are checked when it is read back."""
from __future__ import annotations

import json
import math

import pytest
import torch

from denoiser.hf_build import bert_masked_lm
from denoiser.loading import load_denoiser
from denoiser.position_bias import alibi_slopes, check_slopes, distance_bias


def test_slopes_and_bias_by_hand():
    assert alibi_slopes(4) == [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8]
    assert alibi_slopes(8)[0] == 0.5 and alibi_slopes(8)[-1] == 2 ** -8
    bias = distance_bias([1.0, 0.5], torch.arange(3), 3)
    assert bias.shape == (1, 2, 3, 3)
    assert bias[0, 0].tolist() == [[0, -1, -2], [-1, 0, -1], [-2, -1, 0]]
    assert bias[0, 1, 0].tolist() == [0, -0.5, -1]
    # queries at positions 4, 5 (a window) against 6 keys, the last key padding
    keep = torch.tensor([[True] * 5 + [False]])
    b = distance_bias([1.0], torch.tensor([4, 5]), 6, keep=keep)
    assert b[0, 0, 0, :5].tolist() == [-4, -3, -2, -1, 0]
    assert b[0, 0, :, 5].tolist() == [torch.finfo(torch.float32).min] * 2
    with pytest.raises(ValueError, match="alibi_slopes must be a list of 4 numbers"):
        check_slopes([0.5, 0.25], 4, "config.json")
    with pytest.raises(ValueError, match="finite number >= 0"):
        check_slopes([0.5, -1.0], 2, "config.json")


def test_a_steep_bias_makes_attention_local():
    """With every slope huge, each position attends to itself only: a token's output no longer
    depends on any other token; with no bias it does."""
    torch.manual_seed(0)
    for bias, local in (("alibi", True), ("none", False)):
        den = bert_masked_lm(12, 11, 16, hidden_size=32, num_layers=2, num_heads=4,
                             intermediate_size=64, position_bias=bias)
        if bias == "alibi":
            den.alibi_slopes = [1e4] * 4
        x = torch.randint(0, 11, (1, 16))
        y = x.clone()
        y[0, 9] = (x[0, 9] + 1) % 11
        with torch.no_grad():
            a, b = den(x).logits, den(y).logits
        others = torch.arange(16) != 9
        assert torch.allclose(a[0, others], b[0, others], atol=1e-5) == local


def test_slopes_are_saved_read_back_and_checked(tmp_path):
    den = bert_masked_lm(12, 11, 16, hidden_size=32, num_layers=1, num_heads=4,
                         intermediate_size=64, position_bias="alibi")
    den.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["alibi_slopes"] == alibi_slopes(4)
    back = load_denoiser(tmp_path / "m")
    assert back.alibi_slopes == alibi_slopes(4)
    x = torch.randint(0, 11, (2, 16))
    with torch.no_grad():
        assert torch.equal(back(x).logits, den(x).logits)
        # a row alone is the row padded on the right
        keep = torch.ones(2, 16, dtype=torch.bool)
        keep[0, 10:] = False
        assert torch.allclose(back(x, attention_mask=keep).logits[0, :10],
                              back(x[:1, :10]).logits[0], atol=1e-5)
    config["alibi_slopes"] = [0.5]
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="alibi_slopes must be a list of 4 numbers"):
        load_denoiser(tmp_path / "m")
    with pytest.raises(ValueError, match="position_bias must be one of"):
        bert_masked_lm(12, 11, 16, position_bias="rotary")
    assert math.isfinite(alibi_slopes(3)[0])
