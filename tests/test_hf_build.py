"""The BERT masked LM built here (denoiser/hf_build.py): the sinusoidal start of its position
embeddings, and bad settings refused by name."""
from __future__ import annotations

import pytest
import torch

from denoiser.hf_build import bert_masked_lm, sinusoidal_table


def test_the_sinusoidal_start_has_the_embeddings_scale_and_offset_structure():
    den = bert_masked_lm(12, 11, 40, hidden_size=32, num_layers=1, num_heads=2,
                         intermediate_size=64, position_init="sinusoidal")
    pos = den.model.bert.embeddings.position_embeddings.weight.detach()
    assert torch.equal(pos, sinusoidal_table(40, 32, den.model.config.initializer_range))
    assert pos.std().item() == pytest.approx(0.02, rel=1e-3)
    # the code's dot products depend on the offset only: equal for (3, 5) and (20, 22)
    assert torch.allclose(pos[3] @ pos[5], pos[20] @ pos[22], atol=1e-6)
    assert not torch.allclose(pos[3] @ pos[5], pos[3] @ pos[9], atol=1e-5)
    random = bert_masked_lm(12, 11, 40, hidden_size=32, num_layers=1, num_heads=2,
                            intermediate_size=64).model.bert.embeddings.position_embeddings.weight
    assert not torch.allclose(random.detach(), pos)


def test_a_bad_position_init_is_refused():
    with pytest.raises(ValueError, match=r"position_init must be one of \('random', "
                                         r"'sinusoidal'\), got 'rotary'"):
        bert_masked_lm(12, 11, 40, position_init="rotary")
