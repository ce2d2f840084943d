"""Fast-dLLM's prefix and dual KV cache on the project's transformer (denoiser/kv_cache.py).

With one layer the kept keys and values are exact (a layer-0 key depends only on its own token,
and within a block the prefix and the later masks do not change), so the cached decode must
equal the uncached one; with more layers it is an approximation (measured by
experiments/bench_kv_cache.py), and the test checks that the cache is really used: one full
pass per block, window passes for the other calls."""
from __future__ import annotations

import pytest
import torch

import planner
from denoiser.kv_cache import BlockKVCache
from denoiser.transformer import MDMConfig, MDMTransformer

VOCAB, MASK, GEN, BLOCK = 10, 0, 24, 8


def model(layers: int, positions: str = "learned") -> MDMTransformer:
    torch.manual_seed(layers)
    m = MDMTransformer(MDMConfig(vocab_size=VOCAB, mask_id=MASK, max_length=40, d_model=32,
                                 n_layers=layers, n_heads=4, d_ff=64, positions=positions))
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.5)
    return m.eval()


def prompts():
    g = torch.Generator().manual_seed(0)
    return [torch.randint(1, VOCAB, (int(n),), generator=g).tolist() for n in (5, 3, 8)]


def run(den, policy="low_confidence"):
    kw = dict(gen_length=GEN, block_length=BLOCK)
    if policy == "low_confidence":
        kw["steps"] = GEN // 2
    else:
        kw["policy"] = policy
    return planner.generate(den, prompts(), **kw)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
@pytest.mark.parametrize("mode", ["prefix", "dual"])
@pytest.mark.parametrize("policy", ["low_confidence", "threshold", "eb"])
def test_with_one_layer_the_cache_is_exact(mode, policy, positions):
    m = model(1, positions)
    plain = run(m, policy)
    cached = BlockKVCache(m, BLOCK, mode)
    out = run(cached, policy)
    assert torch.equal(out.tokens, plain.tokens) and torch.equal(out.nfe, plain.nfe)
    # one full pass per block and row, window passes for every other call
    assert cached.full_calls == 3 * (GEN // BLOCK)
    assert cached.window_calls == int(plain.nfe.sum()) - cached.full_calls


@pytest.mark.parametrize("positions", ["learned", "rotary"])
@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_with_more_layers_it_approximates_and_uses_the_cache(mode, positions):
    m = model(3, positions)
    plain = run(m)
    cached = BlockKVCache(m, BLOCK, mode)
    out = run(cached)
    assert (out.tokens != MASK).all() and cached.window_calls > 0
    assert cached.full_calls == 3 * (GEN // BLOCK)
    # a row's first call is a full pass in both: its first step is the uncached one
    first = plain.sample.order == 0
    assert torch.equal(out.sample.order == 0, first)
    assert torch.equal(out.sequences[first], plain.sequences[first])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        BlockKVCache(model(1), 8, "both")
    with pytest.raises(ValueError, match="block_length must be a positive integer, got 0"):
        BlockKVCache(model(1), 0)
    sudoku = MDMTransformer(MDMConfig(vocab_size=10, mask_id=0, max_length=81, d_model=16,
                                      n_layers=1, n_heads=2, d_ff=32, structure="sudoku"))
    with pytest.raises(TypeError, match="structure 'sequence'"):
        BlockKVCache(sudoku, 9)
    with pytest.raises(RuntimeError, match="through planner.sample"):
        BlockKVCache(model(1), 8)(torch.zeros(1, 8, dtype=torch.long))
