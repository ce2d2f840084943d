"""The Hugging Face adapter on tiny models built and saved inside the test: no downloads.

A BERT masked LM (native transformers code), and LLaDA-style and Dream-style models whose code
ships in the folder (`trust_remote_code`, `auto_map`) as the real checkpoints' does.
"""
import json
import sys
from types import SimpleNamespace

import pytest
import torch

import planner
from denoiser import FrozenDenoiser, MDMConfig, MDMTransformer
from denoiser.hf import HFMaskedDenoiser, infer_kind
from denoiser.loading import load_denoiser
from planner.policies.topk_margin import TopKMargin

transformers = pytest.importorskip("transformers")

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list("abcdefghijklmnopqrstuvwxy")  # 30
BERT_MASK = VOCAB.index("[MASK]")


@pytest.fixture(scope="module", autouse=True)
def offline_hf(tmp_path_factory):
    """Keep transformers off the network and its copies of remote code inside a tmp folder.

    transformers reads HF_MODULES_CACHE once, at import, so the module attribute is patched too;
    `transformers_modules` packages imported from another cache are hidden for the duration."""
    import transformers.dynamic_module_utils as dmu
    cache = tmp_path_factory.mktemp("hf_modules")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_HOME", str(cache / "home"))
        mp.setenv("HF_MODULES_CACHE", str(cache))
        mp.setattr(dmu, "HF_MODULES_CACHE", str(cache))
        mp.syspath_prepend(str(cache))
        for name in [m for m in sys.modules if m.split(".")[0] == "transformers_modules"]:
            mp.delitem(sys.modules, name)
        yield cache


# ---------------------------------------------------------------- a native masked LM: BERT

@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_bert")
    config = transformers.BertConfig(vocab_size=len(VOCAB), hidden_size=16, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=32,
                                     max_position_embeddings=24)
    transformers.BertForMaskedLM(config).eval().save_pretrained(path)
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    transformers.BertTokenizer(vocab_file=str(path / "vocab.txt")).save_pretrained(path)
    return path


def test_bert_logits_are_the_models_own(bert_dir):
    den = HFMaskedDenoiser.from_pretrained(bert_dir)
    assert den.kind == "masked_lm"
    assert den.mask_id == BERT_MASK                      # from the folder's tokenizer
    assert (den.vocab_size, den.max_length, den.hidden_size) == (len(VOCAB), 24, 16)

    bert = transformers.BertForMaskedLM.from_pretrained(bert_dir).eval()
    tokens = torch.tensor([[2, 5, 4, 4, 9, 3], [2, 4, 4, 4, 4, 3]])
    with torch.no_grad():
        out = den(tokens, return_hidden=True)
        ref = bert(input_ids=tokens, attention_mask=torch.ones_like(tokens),
                   output_hidden_states=True)
    torch.testing.assert_close(out.logits, ref.logits, rtol=0, atol=0)
    torch.testing.assert_close(out.hidden, ref.hidden_states[-1], rtol=0, atol=0)
    assert out.logits.shape == (2, 6, len(VOCAB)) and out.hidden.shape == (2, 6, 16)
    assert den(tokens).hidden is None


def test_bert_through_the_sampling_loop(bert_dir):
    den = HFMaskedDenoiser.from_pretrained(bert_dir)
    tokens = torch.tensor([[2, 5, 4, 4, 9, 4, 3], [2, 4, 4, 4, 4, 4, 3]])
    masked = tokens == BERT_MASK
    result = planner.sample(den, TopKMargin(), tokens)
    assert not (result.tokens == BERT_MASK).any()                       # every mask filled
    assert torch.equal(result.tokens[~masked], tokens[~masked])          # givens kept
    assert result.nfe.tolist() == masked.sum(-1).tolist()                # one position per step
    assert ((result.order >= 0) == masked).all()


def test_load_denoiser_dispatches_on_model_type(bert_dir, tmp_path):
    den = load_denoiser(bert_dir, mask_id=BERT_MASK)
    assert isinstance(den, HFMaskedDenoiser) and den.mask_id == BERT_MASK

    own = MDMTransformer(MDMConfig(vocab_size=12, mask_id=11, max_length=8, d_model=16,
                                   n_layers=1, n_heads=2, d_ff=32))
    own.save_pretrained(tmp_path / "own")
    loaded = load_denoiser(tmp_path / "own", mask_id=11)
    assert isinstance(loaded, MDMTransformer)
    tokens = torch.tensor([[1, 11, 3, 11]])
    torch.testing.assert_close(loaded(tokens).logits, own(tokens).logits)

    with pytest.raises(FileNotFoundError, match="no model folder"):
        load_denoiser(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_denoiser(tmp_path / "empty")


def test_dtype_and_frozen_wrapper(bert_dir):
    den = HFMaskedDenoiser.from_pretrained(bert_dir, dtype=torch.bfloat16, device="cpu")
    assert next(den.parameters()).dtype == torch.bfloat16
    frozen = FrozenDenoiser(den)
    out = frozen(torch.tensor([[2, 4, 7, 3]]))
    assert out.logits.dtype == torch.float32 and out.logits.shape == (1, 4, len(VOCAB))
    assert frozen.calls == 1


def test_roberta_positions_start_after_the_padding_slot(tmp_path):
    """RoBERTa numbers positions from pad_token_id + 1: 26 position embeddings with pad 1
    leave 24 usable positions, which the adapter reports and which really run."""
    config = transformers.RobertaConfig(vocab_size=len(VOCAB), hidden_size=16,
                                        num_hidden_layers=1, num_attention_heads=2,
                                        intermediate_size=32, max_position_embeddings=26,
                                        pad_token_id=1)
    transformers.RobertaForMaskedLM(config).save_pretrained(tmp_path / "roberta")
    den = HFMaskedDenoiser.from_pretrained(tmp_path / "roberta", mask_id=BERT_MASK)
    assert den.max_length == 24
    with torch.no_grad():
        assert den(torch.full((1, 24), 7)).logits.shape == (1, 24, len(VOCAB))
        with pytest.raises((IndexError, RuntimeError)):   # one more has no position embedding
            den(torch.full((1, 25), 7))


# ------------------------------------------------ remote-code MDMs: LLaDA-style and Dream-style

CONFIGURATION = '''
from transformers import PretrainedConfig


class TinyMDMConfig(PretrainedConfig):
    model_type = "{model_type}"

    def __init__(self, vocab_size=24, hidden_size=8, max_sequence_length=16, mask_token_id=23,
                 **kwargs):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_sequence_length = max_sequence_length
        self.mask_token_id = mask_token_id
        super().__init__(**kwargs)
'''

# One bidirectional attention layer. `attention_mask` follows the convention of the model it
# imitates: LLaDA turns a [batch, L] padding mask into a key bias (all ones: none); Dream hands
# a tensor mask to scaled_dot_product_attention as it is, so a [batch, L] mask would fail there.
MODELING = '''
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput

from .configuration_tinymdm import TinyMDMConfig


class TinyMDMModel(PreTrainedModel):
    config_class = TinyMDMConfig
    base_model_prefix = "tinymdm"

    def __init__(self, config):
        super().__init__(config)
        d = config.hidden_size
        self.tok = nn.Embedding(config.vocab_size, d)
        self.pos = nn.Embedding(config.max_sequence_length, d)
        self.qkv = nn.Linear(d, 3 * d)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.vocab_size)
        self.post_init()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.5)

    def forward(self, input_ids, attention_mask=None, output_hidden_states=None, return_dict=None):
        n = input_ids.shape[1]
        h0 = self.tok(input_ids) + self.pos(torch.arange(n, device=input_ids.device))
        q, k, v = self.qkv(h0)[:, None].chunk(3, dim=-1)
{mask_code}
        h = self.norm(h0 + F.scaled_dot_product_attention(q, k, v, attn_mask=bias)[:, 0])
        return MaskedLMOutput(logits=self.head(h),
                              hidden_states=(h0, h) if output_hidden_states else None)
'''
LLADA_MASK = '''\
        bias = None
        if attention_mask is not None and (attention_mask == 0).any():
            bias = (1.0 - attention_mask.float())[:, None, None, :] * torch.finfo(h0.dtype).min'''
DREAM_MASK = '''\
        bias = attention_mask if isinstance(attention_mask, torch.Tensor) else None'''


def make_remote_model(folder, model_type, mask_code, architecture):
    """Write the code files and a config.json with auto_map into `folder`, build the model
    through transformers' remote-code path, and save its weights there. Returns the model."""
    folder.mkdir()
    (folder / "configuration_tinymdm.py").write_text(CONFIGURATION.format(model_type=model_type))
    (folder / "modeling_tinymdm.py").write_text(MODELING.format(mask_code=mask_code))
    (folder / "config.json").write_text(json.dumps({
        "model_type": model_type, "architectures": [architecture],
        "auto_map": {"AutoConfig": "configuration_tinymdm.TinyMDMConfig",
                     "AutoModel": "modeling_tinymdm.TinyMDMModel"},
        "vocab_size": 24, "hidden_size": 8, "max_sequence_length": 16, "mask_token_id": 23}))
    config = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True,
                                                     local_files_only=True)
    torch.manual_seed(1)
    model = transformers.AutoModel.from_config(config, trust_remote_code=True).eval()
    model.save_pretrained(folder)
    return model


@pytest.fixture(scope="module")
def llada(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote") / "tiny_llada"
    return folder, make_remote_model(folder, "tinymdm", LLADA_MASK, "TinyMDMModel")


@pytest.fixture(scope="module")
def dream(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote") / "tiny_dream"
    return folder, make_remote_model(folder, "Dream", DREAM_MASK, "DreamModel")


def test_llada_style_remote_code_model(llada):
    folder, model = llada
    den = HFMaskedDenoiser.from_pretrained(folder, kind="llada", trust_remote_code=True)
    assert (den.mask_id, den.vocab_size, den.max_length, den.hidden_size) == (23, 24, 16, 8)

    seen = []
    den.model.register_forward_pre_hook(lambda mod, args, kw: seen.append(kw), with_kwargs=True)
    tokens = torch.tensor([[1, 23, 23, 5, 23], [23, 23, 2, 23, 7]])
    with torch.no_grad():
        out = den(tokens, return_hidden=True)
        ref = model(tokens, output_hidden_states=True)
    torch.testing.assert_close(out.logits, ref.logits, rtol=0, atol=0)
    torch.testing.assert_close(out.hidden, ref.hidden_states[-1], rtol=0, atol=0)
    assert torch.equal(seen[-1]["attention_mask"], torch.ones_like(tokens))

    result = planner.sample(den, TopKMargin(steps=2), tokens)
    assert not (result.tokens == 23).any()
    assert torch.equal(result.tokens[tokens != 23], tokens[tokens != 23])
    assert result.nfe.tolist() == [2, 2]


def test_dream_style_logits_are_shifted_back(dream):
    folder, model = dream
    den = HFMaskedDenoiser.from_pretrained(folder, trust_remote_code=True)   # kind from "Dream"
    assert den.kind == "dream" and den.mask_id == 23

    seen = []
    den.model.register_forward_pre_hook(lambda mod, args, kw: seen.append(kw), with_kwargs=True)
    tokens = torch.tensor([[1, 23, 23, 5, 23, 9], [23, 23, 2, 23, 7, 23]])
    with torch.no_grad():
        out = den(tokens, return_hidden=True)
        raw = model(tokens, output_hidden_states=True)
    assert "attention_mask" not in seen[-1]      # Dream would misread a [batch, L] mask
    for i in range(1, tokens.shape[1]):          # position i is predicted by raw position i-1
        torch.testing.assert_close(out.logits[:, i], raw.logits[:, i - 1], rtol=0, atol=0)
        torch.testing.assert_close(out.hidden[:, i], raw.hidden_states[-1][:, i - 1], rtol=0, atol=0)
    torch.testing.assert_close(out.logits[:, 0], raw.logits[:, 0], rtol=0, atol=0)
    assert not torch.equal(out.logits[:, 1], raw.logits[:, 1])   # the shift is not a no-op here

    result = planner.sample(den, TopKMargin(), tokens)
    assert not (result.tokens == 23).any()
    assert torch.equal(result.tokens[tokens != 23], tokens[tokens != 23])


# ---------------------------------------------------------------------------------- errors

def test_mask_id_outside_the_vocabulary_is_refused(bert_dir):
    with pytest.raises(ValueError, match=r"mask id 30 is outside the denoiser's vocabulary of 30"):
        HFMaskedDenoiser.from_pretrained(bert_dir, mask_id=30)


def test_mask_id_conflicting_with_the_config_is_refused(llada):
    folder, _ = llada
    with pytest.raises(ValueError, match="mask_id 5 was given.*mask_token_id=23"):
        HFMaskedDenoiser.from_pretrained(folder, kind="llada", trust_remote_code=True, mask_id=5)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        HFMaskedDenoiser.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="no model folder"):
        HFMaskedDenoiser.from_pretrained(tmp_path / "nowhere")


def test_auto_kind_on_an_unknown_model_type_is_refused(llada):
    folder, _ = llada
    with pytest.raises(ValueError, match="model_type='tinymdm'.*pass kind="):
        HFMaskedDenoiser.from_pretrained(folder, trust_remote_code=True)


def test_remote_code_needs_consent(llada):
    folder, _ = llada
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        HFMaskedDenoiser.from_pretrained(folder, kind="llada")


def test_max_length_beyond_the_config_is_refused(bert_dir):
    with pytest.raises(ValueError, match="max_length 25 exceeds"):
        HFMaskedDenoiser.from_pretrained(bert_dir, max_length=25)
    assert HFMaskedDenoiser.from_pretrained(bert_dir, max_length=10).max_length == 10


@pytest.mark.parametrize("config,kind", [
    ({"model_type": "llada", "architectures": ["LLaDAModelLM"]}, "llada"),
    ({"model_type": "Dream", "architectures": ["DreamModel"]}, "dream"),
    ({"model_type": "bert", "architectures": ["BertForMaskedLM"]}, "masked_lm"),
    ({"model_type": "modernbert"}, "masked_lm"),
    ({"model_type": "custom", "architectures": ["CustomForMaskedLM"]}, "masked_lm"),
])
def test_infer_kind(config, kind):
    assert infer_kind(config) == kind


def test_infer_kind_refuses_a_causal_lm():
    with pytest.raises(ValueError, match="model_type='gpt2'"):
        infer_kind({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})


class Unigram(torch.nn.Module):
    """A stand-in model whose logits depend on the token alone and which returns no hidden
    states, although its forward takes every keyword."""

    def __init__(self, **config):
        super().__init__()
        self.config = SimpleNamespace(model_type="unigram", hidden_size=4, max_sequence_length=8,
                                      **config)
        self.emb = torch.nn.Embedding(10, 10)

    def forward(self, input_ids, **kwargs):
        return SimpleNamespace(logits=self.emb(input_ids), hidden_states=None)


def test_a_model_without_hidden_states():
    den = HFMaskedDenoiser(Unigram(mask_token_id=9), kind="llada")
    assert (den.vocab_size, den.hidden_size, den.max_length) == (10, 4, 8)   # hidden from config
    assert den(torch.tensor([[1, 9]])).logits.shape == (1, 2, 10)
    with pytest.raises(ValueError, match="returns no hidden states"):
        den(torch.tensor([[1, 9]]), return_hidden=True)


def test_llada_default_mask_id_must_fit_the_vocabulary():
    with pytest.raises(ValueError, match="mask id 126336 is outside the denoiser's vocabulary "
                                         "of 10 tokens"):
        HFMaskedDenoiser(Unigram(), kind="llada")
    with pytest.raises(ValueError, match="names no mask token.*pass mask_id"):
        HFMaskedDenoiser(Unigram(), kind="dream")
