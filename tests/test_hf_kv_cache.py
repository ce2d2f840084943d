"""Fast-dLLM's prefix and dual KV cache on a Hugging Face BertForMaskedLM
(denoiser/hf_kv_cache.py), as tests/test_kv_cache.py does on the project's transformer.

With one layer the kept keys and values are exact (a layer-0 key depends only on its own token
and position), so the cached decode must equal the uncached one; with more layers it is an
approximation, and the test checks that the cache is really used: one full pass per block and
row, window passes for the other calls. Models the cache cannot run are refused by name."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from denoiser.hf import HFMaskedDenoiser
from denoiser.hf_build import bert_masked_lm
from denoiser.kv_cache import BlockKVCache

from test_kv_cache import BLOCK, GEN, MASK, VOCAB, run   # the same decodes as there


def bert(layers: int, position_bias: str = "none") -> HFMaskedDenoiser:
    torch.manual_seed(layers)
    den = bert_masked_lm(VOCAB, MASK, max_length=40, hidden_size=32, num_layers=layers,
                         num_heads=4, intermediate_size=64, position_bias=position_bias)
    with torch.no_grad():          # peaked predictions, so the rules take varied decisions
        for p in den.model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.5)
    return den.eval()


@pytest.mark.parametrize("mode", ["prefix", "dual"])
@pytest.mark.parametrize("policy", ["low_confidence", "threshold", "eb"])
@pytest.mark.parametrize("position_bias", ["none", "alibi"])
def test_with_one_layer_the_cache_is_exact(mode, policy, position_bias):
    den = bert(1, position_bias)
    plain = run(den, policy)
    cached = BlockKVCache(den, BLOCK, mode)
    out = run(cached, policy)
    assert plain.padding.any()                        # rows of three prompt lengths
    assert torch.equal(out.tokens, plain.tokens) and torch.equal(out.nfe, plain.nfe)
    assert cached.full_calls == 3 * (GEN // BLOCK)
    assert cached.window_calls == int(plain.nfe.sum()) - cached.full_calls


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_with_more_layers_it_approximates_and_uses_the_cache(mode):
    den = bert(3)
    plain = run(den)
    cached = BlockKVCache(den, BLOCK, mode)
    out = run(cached)
    assert (out.tokens != MASK).all() and cached.window_calls > 0
    assert cached.full_calls == 3 * (GEN // BLOCK)
    first = plain.sample.order == 0                   # a row's first call is a full pass
    assert torch.equal(out.sample.order == 0, first)
    assert torch.equal(out.sequences[first], plain.sequences[first])
    assert not torch.equal(out.tokens, plain.tokens)  # three layers: not the uncached decode


@pytest.mark.parametrize("position_bias", ["none", "alibi"])
def test_a_window_pass_on_an_unchanged_state_is_the_full_pass(position_bias):
    """The spliced keys stand exactly for the full sequence: same logits up to rounding (with
    ALiBi's bias the window's queries keep their own positions' distances)."""
    den = bert(2, position_bias)
    layers = BlockKVCache(den, BLOCK).layers
    tokens = torch.randint(0, VOCAB, (2, 20), generator=torch.Generator().manual_seed(3))
    keep = torch.ones_like(tokens, dtype=torch.bool)
    keep[1, 16:] = False
    logits, hidden, keys, values = layers.full(tokens, keep)
    assert len(keys) == 2 and keys[0].shape == (2, 4, 20, 8)
    with torch.no_grad():
        plain = den(tokens, attention_mask=keep).logits
    assert torch.equal(logits, plain)
    window, _ = layers.window(tokens, keep, 4, 12, keys, values)
    assert torch.allclose(window, logits[:, 4:12], atol=1e-5)
    moved, _ = layers.window(tokens.roll(1, 1), keep, 4, 12, keys, values)
    assert not torch.allclose(moved, logits[:, 4:12], atol=1e-3)


class Unigram(torch.nn.Module):
    """A stand-in masked LM whose forward takes a cache but never hands it anything."""

    def __init__(self):
        super().__init__()
        self.config = SimpleNamespace(model_type="unigram", hidden_size=4, max_sequence_length=8,
                                      mask_token_id=9)
        self.emb = torch.nn.Embedding(10, 10)

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None):
        return SimpleNamespace(logits=self.emb(input_ids), hidden_states=None)


def test_models_the_cache_cannot_run_are_refused(tmp_path):
    import transformers

    with pytest.raises(TypeError, match="Unigram's attention hands no keys and values to a cache"):
        BlockKVCache(HFMaskedDenoiser(Unigram(), kind="masked_lm"), BLOCK)
    with pytest.raises(TypeError, match="masked_lm Hugging Face model, got kind 'llada'"):
        BlockKVCache(HFMaskedDenoiser(Unigram(), kind="llada"), BLOCK)
    config = transformers.RobertaConfig(vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, intermediate_size=32,
                                        max_position_embeddings=26, pad_token_id=1)
    roberta = HFMaskedDenoiser(transformers.RobertaForMaskedLM(config), kind="masked_lm",
                               mask_id=MASK)
    with pytest.raises(TypeError, match="model_type 'roberta'.* numbers positions from its padding id"):
        BlockKVCache(roberta, BLOCK)
    with pytest.raises(TypeError, match="got Linear"):
        BlockKVCache(torch.nn.Linear(2, 2), BLOCK)
