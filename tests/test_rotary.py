"""Rotary positions in the project's sequence transformer (`MDMConfig(positions="rotary")`):
attention sees relative offsets only, so a row's logits do not depend on where it starts (left
padding is invariant, unlike learned absolute positions), the rotation keeps norms, checkpoints
record the choice, and bad settings are refused by name."""
from __future__ import annotations

import json

import pytest
import torch

from denoiser.transformer import MDMConfig, MDMTransformer, rotary_angles, rotate

VOCAB, MASK = 12, 11


def model(positions: str, layers: int = 2) -> MDMTransformer:
    torch.manual_seed(0)
    m = MDMTransformer(MDMConfig(vocab_size=VOCAB, mask_id=MASK, max_length=32, d_model=32,
                                 n_layers=layers, n_heads=4, d_ff=64, positions=positions))
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.4)
    return m.eval()


def shifted(tokens: torch.Tensor, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`tokens [1, n]` behind `shift` padding positions, and the attention mask."""
    pad = torch.full((1, shift), 3)
    return torch.cat([pad, tokens], 1), torch.cat([torch.zeros(1, shift, dtype=torch.bool),
                                                   torch.ones_like(tokens, dtype=torch.bool)], 1)


def test_rotary_logits_do_not_depend_on_the_start_but_learned_ones_do():
    tokens = torch.tensor([[1, 4, MASK, 7, MASK, MASK, 2, 9]])
    for positions, invariant in (("rotary", True), ("learned", False)):
        m = model(positions)
        with torch.no_grad():
            plain = m(tokens).logits[0]
            padded, keep = shifted(tokens, 5)
            moved = m(padded, attention_mask=keep).logits[0, 5:]
        same = torch.allclose(plain, moved, atol=1e-4)
        assert same == invariant, f"{positions}: largest difference {(plain - moved).abs().max():.2e}"


def test_the_rotation_keeps_norms_and_scores_depend_on_the_offset_only():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(8, generator=g), torch.randn(8, generator=g)
    cos, sin = rotary_angles(torch.arange(20), 8)
    rq, rk = rotate(q.expand(20, 8), cos, sin), rotate(k.expand(20, 8), cos, sin)
    assert torch.allclose(rq.norm(dim=-1), q.norm().expand(20), atol=1e-5)
    assert torch.allclose(rq[0], q) and torch.allclose(rk[0], k)      # position 0: no rotation
    assert torch.allclose(rq[3] @ rk[7], rq[10] @ rk[14], atol=1e-5)  # offset 4 both times
    assert not torch.allclose(rq[3] @ rk[7], rq[3] @ rk[8], atol=1e-3)


def test_a_rotary_checkpoint_round_trips_and_an_old_one_loads_as_learned(tmp_path):
    m = model("rotary")
    m.save_pretrained(tmp_path / "rot")
    assert json.loads((tmp_path / "rot" / "config.json").read_text())["positions"] == "rotary"
    back = MDMTransformer.from_pretrained(tmp_path / "rot")
    tokens = torch.tensor([[1, MASK, 3, MASK]])
    with torch.no_grad():
        assert torch.equal(back(tokens).logits, m(tokens).logits)
    assert not any(k.startswith("pos.") for k in back.state_dict())
    learned = model("learned")
    learned.save_pretrained(tmp_path / "old")
    config = json.loads((tmp_path / "old" / "config.json").read_text())
    del config["positions"]           # a folder written before the field existed
    (tmp_path / "old" / "config.json").write_text(json.dumps(config))
    assert MDMTransformer.from_pretrained(tmp_path / "old").config.positions == "learned"


def test_bad_position_settings_are_refused():
    with pytest.raises(ValueError, match=r"positions must be one of \('learned', 'rotary'\), got 'alibi'"):
        MDMConfig(vocab_size=VOCAB, mask_id=MASK, max_length=8, positions="alibi")
    with pytest.raises(ValueError, match="positions 'rotary' is for structure 'sequence'"):
        MDMConfig(vocab_size=10, mask_id=0, max_length=81, structure="sudoku", positions="rotary")
    with pytest.raises(ValueError, match="even head size, got d_model 36 / n_heads 4"):
        MDMConfig(vocab_size=VOCAB, mask_id=MASK, max_length=8, d_model=36, n_heads=4,
                  positions="rotary")
