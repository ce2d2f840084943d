"""`planner.generate()`: LLaDA's `generate()` choices on the same model and prompt
(tests/oracles/llada.py, a transcription of ML-GSAI/LLaDA @ b7e6c35 `generate.py`), its EOS
options, text prompts with a tokenizer, stopping at EOS, and its errors."""
from __future__ import annotations

import pytest
import torch

import planner
from conformance import MASK, SEEDS, setting
from oracles import llada
from policy_fixtures import ToyDenoiser

GEN = 16
GRID = [(16, 16), (16, 4), (8, 8), (8, 4), (4, 8), (4, 4), (8, 16)]


@pytest.mark.parametrize("block_length,steps", GRID)
@pytest.mark.parametrize("prompt_length", [4, 5])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_generate_is_llada_low_confidence_with_blocks(block_length, steps, prompt_length, temperature):
    for seed in SEEDS:
        denoiser, model, prompts, _ = setting(3, prompt_length, GEN, seed)
        x, rec = llada.llada_blocks(model, prompts, steps=steps, gen_length=GEN,
                                    block_length=block_length, mask_id=MASK,
                                    score=llada.low_confidence(), temperature=temperature,
                                    generator=torch.Generator().manual_seed(seed))
        out = planner.generate(denoiser, prompts, gen_length=GEN, block_length=block_length,
                               steps=steps, temperature=temperature,
                               generator=torch.Generator().manual_seed(seed))
        what = f"block {block_length} steps {steps} prompt {prompt_length} T {temperature} seed {seed}"
        assert torch.equal(out.sequences, x), f"{what}: tokens differ from LLaDA's"
        assert torch.equal(out.sample.order, rec.dense()), f"{what}: reveal steps differ"
        assert torch.equal(out.tokens, x[:, prompt_length:])
        # LLaDA spends steps calls (its k = 0 calls included); the project skips those
        assert (out.nfe <= steps).all() and (out.nfe >= -(-GEN // block_length)).all()


@pytest.mark.parametrize("option", ["ban_eos", "zero_confidence"])
def test_generate_eos_options_are_llada(option):
    eos, eot = 3, 5
    for seed in SEEDS:
        denoiser, model, prompts, _ = setting(3, 4, GEN, seed)
        kw = dict(steps=8, gen_length=GEN, block_length=8, mask_id=MASK, score=llada.low_confidence(),
                  eos_id=eos, eot_id=eot)
        if option == "ban_eos":
            x, rec = llada.llada_blocks(model, prompts, logits_eos_inf=True, **kw)
            out = planner.generate(denoiser, prompts, gen_length=GEN, block_length=8, steps=8,
                                   eos_id=eos, ban_eos=True)
            assert not (out.tokens == eos).any()
        else:
            x, rec = llada.llada_blocks(model, prompts, confidence_eos_eot_inf=True, **kw)
            out = planner.generate(denoiser, prompts, gen_length=GEN, block_length=8, steps=8,
                                   zero_confidence_tokens=[eot])
        assert torch.equal(out.sequences, x) and torch.equal(out.sample.order, rec.dense()), option


def test_stop_at_eos_ends_a_row_and_keeps_what_came_before():
    denoiser, _, prompts, _ = setting(3, 4, GEN, 0)
    free = planner.generate(denoiser, prompts, gen_length=GEN, block_length=4, steps=16)
    # an EOS id that the free run writes early in row 0
    eos = int(free.tokens[0, 2])
    out = planner.generate(denoiser, prompts, gen_length=GEN, block_length=4, steps=16,
                           eos_id=eos, stop_at_eos=True)
    for row in range(3):
        got = out.tokens[row].tolist()
        if eos not in got:
            assert torch.equal(out.tokens[row], free.tokens[row])
            continue
        j = got.index(eos)
        assert got[:j + 1] == free.tokens[row, :j + 1].tolist()
        # what was still masked after the EOS at the stop (the row's last call) became EOS;
        # what was written before it stays
        order = out.sample.order[row, 4:].tolist()
        last = int(out.nfe[row]) - 1
        assert all(t == eos for t, s in zip(got[j + 1:], order[j + 1:]) if s == last)
    assert (out.nfe <= free.nfe).all() and out.nfe[0] < free.nfe[0]


def test_named_policies_take_blocks_and_steps():
    denoiser, _, prompts, _ = setting(2, 4, GEN, 0)
    out = planner.generate(denoiser, prompts, gen_length=GEN, block_length=8, policy="threshold")
    assert out.tokens.shape == (2, GEN) and not (out.tokens == MASK).any()
    ref = planner.sample(denoiser, planner.load_policy("threshold", block_length=8),
                         out.sequences.masked_fill(out.sample.order >= 0, MASK))
    assert torch.equal(ref.tokens, out.sequences)
    with pytest.raises(ValueError, match="policy 'eb' takes no steps"):
        planner.generate(denoiser, prompts, gen_length=GEN, steps=4, policy="eb")
    with pytest.raises(ValueError, match=r"\['block_length'\] were given with a policy object"):
        planner.generate(denoiser, prompts, gen_length=GEN, block_length=8,
                         policy=planner.load_policy("eb"))


def _tiny_bert_and_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForMaskedLM, PreTrainedTokenizerFast
    words = ["[PAD]", "[MASK]", "[EOS]", "[UNK]"] + list("abcdefgh")
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", mask_token="[MASK]",
                                  eos_token="[EOS]", unk_token="[UNK]")
    torch.manual_seed(0)
    bert = BertForMaskedLM(BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1,
                                      num_attention_heads=2, intermediate_size=64,
                                      max_position_embeddings=32, mask_token_id=1)).eval()
    return bert, tok


def test_text_prompts_with_a_tokenizer_on_a_hugging_face_model():
    bert, tok = _tiny_bert_and_tokenizer()
    out = planner.generate(bert, ["a b c", "d e"], tokenizer=tok, gen_length=6, block_length=3,
                           steps=6)
    assert out.tokens.shape == (2, 6) and len(out.text) == 2
    assert out.padding[1].sum() == 1 and not out.padding[0].any()     # right padding of row 1
    ids = [tok("a b c")["input_ids"], tok("d e")["input_ids"]]
    again = planner.generate(bert, ids, gen_length=6, block_length=3, steps=6, pad_id=0)
    assert torch.equal(out.tokens, again.tokens)
    alone = planner.generate(bert, [ids[1]], gen_length=6, block_length=3, steps=6, pad_id=0)
    assert torch.equal(alone.tokens[0], out.tokens[1])
    for row, text in zip(out.tokens.tolist(), out.text):
        cut = row[:row.index(tok.eos_token_id)] if tok.eos_token_id in row else row
        assert text == tok.decode(cut, skip_special_tokens=True)


def test_bad_input_is_refused_with_the_value():
    denoiser, _, prompts, _ = setting(1, 4, GEN, 0)
    with pytest.raises(ValueError, match="gen_length must be a positive integer, got 0"):
        planner.generate(denoiser, prompts, gen_length=0)
    with pytest.raises(ValueError, match="a text prompt needs the model's tokenizer"):
        planner.generate(denoiser, "hello", gen_length=4)
    with pytest.raises(ValueError, match="remasking must be one of"):
        planner.generate(denoiser, prompts, gen_length=GEN, remasking="lowest")
    with pytest.raises(ValueError, match="takes no attention mask"):
        planner.generate(ToyDenoiser(length=24), [[1, 2], [3]], gen_length=4)
    with pytest.raises(ValueError, match="need the EOS token"):
        planner.generate(denoiser, prompts, gen_length=GEN, stop_at_eos=True)
    with pytest.raises(ValueError, match="pad_id 0 equals the mask id"):
        planner.generate(denoiser, prompts, gen_length=GEN, pad_id=0)
    with pytest.raises(ValueError, match="block_length 32 exceeds gen_length 16"):
        planner.generate(denoiser, prompts, gen_length=GEN, block_length=32)
