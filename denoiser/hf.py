"""Any Hugging Face masked model as a frozen denoiser, so that `planner.sample()` can run it.

Three kinds of checkpoint folder are understood:

- `masked_lm`: a BERT / RoBERTa / ModernBERT-style encoder loaded with `AutoModelForMaskedLM`.
  It was trained to fill a few masks, not to denoise from all-masked, but it has the same
  interface: logits over the clean token at every position.
- `llada`: LLaDA (Nie et al. 2025, "Large Language Diffusion Models", arXiv:2502.09992), a
  `trust_remote_code` model loaded with `AutoModel`. Mask id 126336 unless the config says.
- `dream`: Dream (Ye et al. 2025, "Dream 7B", arXiv:2508.15487), a `trust_remote_code` model
  initialised from an autoregressive LM and kept *shifted*: its raw output at position i-1
  predicts token i. The adapter undoes the shift exactly as Dream's own sampler does
  (`logits = cat([logits[:, :1], logits[:, :-1]])`), so position 0 reuses raw position 0.

Only local folders are loaded (`local_files_only=True`): nothing is downloaded.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import torch

from .base import Denoiser, DenoiserOutput
from .paths import resolve_folder
from .position_bias import CONFIG_KEY as _ALIBI_KEY, check_slopes, distance_bias

KINDS = ("masked_lm", "llada", "dream")
LLADA_MASK_ID = 126336  # LLaDA-8B's mask token, used when its config does not name one

# RoBERTa-style embeddings number positions from padding_idx + 1, so max_position_embeddings
# counts pad_token_id + 1 slots that a token can never use.
_PADDING_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert",
                             "roberta-prelayernorm", "data2vec-text", "longformer")
_MAX_LENGTH_KEYS = ("max_position_embeddings", "max_sequence_length", "n_positions", "max_seq_len")
_HIDDEN_SIZE_KEYS = ("hidden_size", "d_model", "n_embd", "dim")
_TOKENIZER_FILES = ("tokenizer_config.json", "tokenizer.json", "vocab.txt", "vocab.json",
                    "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def read_config_json(path: str | Path) -> dict:
    """The raw `config.json` of a model folder, read without running any model code."""
    path = resolve_folder(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no model folder at {path}")
    from .checkpoint import read_json, recover_folder
    recover_folder(path)
    cfg = path / "config.json"
    if not cfg.is_file():
        raise FileNotFoundError(f"{path} has no config.json: it is not a model folder")
    return read_json(cfg)


def infer_kind(config: dict) -> str:
    """Which of `KINDS` a raw `config.json` describes, from its `model_type` and `architectures`."""
    model_type = str(config.get("model_type") or "")
    archs = [str(a) for a in config.get("architectures") or []]
    if "llada" in model_type.lower() or any("llada" in a.lower() for a in archs):
        return "llada"
    if model_type.lower() == "dream" or any(a.lower().startswith("dream") for a in archs):
        return "dream"
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES or any(a.endswith("ForMaskedLM") for a in archs):
        return "masked_lm"
    raise ValueError(f"cannot tell which kind of masked model this is (model_type={model_type!r}, "
                     f"architectures={archs}); pass kind= one of {KINDS}")


def _config_value(config, keys: tuple[str, ...]):
    for key in keys:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return key, value
    return None, None


def _accepts(fn, name: str) -> bool:
    params = inspect.signature(fn).parameters
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class HFMaskedDenoiser(Denoiser):
    """A `transformers` masked model behind the `Denoiser` interface.

    model: the loaded `PreTrainedModel`; its forward takes `input_ids` and returns an object
        with `.logits [batch, length, vocab]` (and `.hidden_states` when asked).
    kind: one of `KINDS`; "dream" shifts logits (and hidden states) right by one position.
    mask_id: the mask token; default from the config (`mask_token_id`), for LLaDA 126336.
    max_length: default from the config (`max_position_embeddings` or `max_sequence_length`);
        a larger value than the config's is refused.

    `vocab_size` and `hidden_size` are read from one probe forward pass on a single token, so
    they are the widths the model really produces (often a padded vocabulary).
    """

    def __init__(self, model: torch.nn.Module, *, kind: str, mask_id: int | None = None,
                 max_length: int | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.model, self.kind = model, kind
        config = getattr(model, "config", None)
        model_type = getattr(config, "model_type", None)
        if kind == "masked_lm" and getattr(config, "is_encoder_decoder", False):
            raise ValueError(f"model_type {model_type!r} is an encoder-decoder; kind 'masked_lm' "
                             f"needs an encoder-only model whose logits align with its inputs")
        # Dream's attention hands a tensor mask straight to scaled_dot_product_attention as a
        # [.., L, L] bias, so a [batch, L] padding mask would be misread; its own sampler passes
        # none for unpadded batches. The others turn a [batch, L] mask of ones into no masking.
        self._attention_mask = kind != "dream" and _accepts(model.forward, "attention_mask")
        self.supports_padding = self._attention_mask
        self._hidden_states = _accepts(model.forward, "output_hidden_states")
        # a BERT trained here with a distance bias (denoiser.position_bias) records its slopes
        self.alibi_slopes = self._resolve_slopes(config)

        self.mask_id = self._resolve_mask_id(mask_id, config)
        self.max_length = self._resolve_max_length(max_length, config)
        self.vocab_size, self.hidden_size = self._probe()
        # a character model trained here records its characters in the config; others: None
        self.vocabulary = getattr(config, "vocabulary", None)
        if not 0 <= self.mask_id < self.vocab_size:
            raise ValueError(f"mask id {self.mask_id} is outside the denoiser's vocabulary of "
                             f"{self.vocab_size} tokens (ids 0..{self.vocab_size - 1})")

    def _resolve_slopes(self, config) -> list[float] | None:
        slopes = getattr(config, _ALIBI_KEY, None)
        if slopes is None:
            return None
        where = f"{type(self.model).__name__}'s config"
        if self.kind != "masked_lm" or not self._attention_mask:
            raise ValueError(f"{where} names {_ALIBI_KEY}, which only a masked_lm model whose "
                             f"forward takes attention_mask can be given (kind {self.kind!r})")
        return check_slopes(slopes, int(getattr(config, "num_attention_heads", -1)), where)

    def _resolve_mask_id(self, mask_id: int | None, config) -> int:
        from_config = getattr(config, "mask_token_id", None)
        if mask_id is not None:
            if from_config is not None and int(from_config) != int(mask_id):
                raise ValueError(f"mask_id {mask_id} was given, but the model's config says "
                                 f"mask_token_id={from_config}")
            return int(mask_id)
        if from_config is not None:
            return int(from_config)
        if self.kind == "llada":
            return LLADA_MASK_ID
        raise ValueError(f"the {self.kind} model (model_type "
                         f"{getattr(config, 'model_type', None)!r}) names no mask token in its "
                         f"config or tokenizer: pass mask_id")

    def _resolve_max_length(self, max_length: int | None, config) -> int:
        key, limit = _config_value(config, _MAX_LENGTH_KEYS)
        if limit is not None and getattr(config, "model_type", None) in _PADDING_OFFSET_POSITIONS:
            limit -= int(getattr(config, "pad_token_id", None) or 0) + 1
        if max_length is None:
            if limit is None:
                raise ValueError(f"the model's config gives no maximum length (looked for "
                                 f"{_MAX_LENGTH_KEYS}): pass max_length")
            return limit
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"max_length must be a positive integer, got {max_length!r}")
        if limit is not None and max_length > limit:
            raise ValueError(f"max_length {max_length} exceeds the model's {key}-derived limit "
                             f"{limit}")
        return max_length

    @torch.inference_mode()
    def _probe(self) -> tuple[int, int | None]:
        """One forward pass on a single token: the real logits width, and whether (and how
        wide) the model returns hidden states when asked."""
        was_training = self.model.training
        self.model.eval()
        try:
            device = next(self.model.parameters()).device
            out = self._run(torch.zeros(1, 1, dtype=torch.long, device=device),
                            self._hidden_states)
        finally:
            self.model.train(was_training)
        states = getattr(out, "hidden_states", None) if self._hidden_states else None
        self._hidden_states = bool(states)   # a model may take the flag and still return none
        if states:
            hidden = int(states[-1].shape[-1])
        else:
            hidden = _config_value(getattr(self.model, "config", None), _HIDDEN_SIZE_KEYS)[1]
        return int(out.logits.shape[-1]), hidden

    def _run(self, tokens: torch.Tensor, output_hidden_states: bool,
             attention_mask: torch.Tensor | None = None):
        kwargs = {"input_ids": tokens.long()}
        if self.alibi_slopes is not None:
            length = tokens.shape[1]
            kwargs["attention_mask"] = distance_bias(
                self.alibi_slopes, torch.arange(length, device=tokens.device), length,
                keep=attention_mask, dtype=_compute_dtype(self.model))
        elif self._attention_mask:
            kwargs["attention_mask"] = (torch.ones_like(kwargs["input_ids"]) if attention_mask is None
                                        else attention_mask.long())
        if output_hidden_states:
            kwargs["output_hidden_states"] = True
        out = self.model(**kwargs)
        if not isinstance(getattr(out, "logits", None), torch.Tensor):
            raise TypeError(f"{type(self.model).__name__} returned {type(out).__name__} without "
                            f"a .logits tensor")
        return out

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False,
                attention_mask: torch.Tensor | None = None) -> DenoiserOutput:
        """tokens `[batch, length]` -> logits `[batch, length, vocab]`, hidden `[batch, length, d]`
        (the last hidden layer) when `return_hidden`. attention_mask: `[batch, length]` bool,
        False at padding (models whose forward takes `attention_mask`; not Dream)."""
        if return_hidden and not self._hidden_states:
            raise ValueError(f"{type(self.model).__name__} returns no hidden states, so "
                             f"return_hidden=True cannot be served")
        if attention_mask is not None and not self.supports_padding:
            raise ValueError(f"the {self.kind} model {type(self.model).__name__} takes no "
                             f"[batch, length] attention_mask: give rows of one length")
        out = self._run(tokens, return_hidden, attention_mask)
        logits = out.logits
        hidden = out.hidden_states[-1] if return_hidden else None
        if self.kind == "dream":
            # raw position i-1 predicts token i; the first position has no left neighbour and
            # keeps its own output, as in Dream's sampler. The hidden state moves with the logits
            # it produced.
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
            if hidden is not None:
                hidden = torch.cat([hidden[:, :1], hidden[:, :-1]], dim=1)
        return DenoiserOutput(logits, hidden)

    @classmethod
    def from_pretrained(cls, path: str | Path, *, kind: str = "auto", mask_id: int | None = None,
                        trust_remote_code: bool = False, dtype: torch.dtype | str | None = None,
                        device: str | torch.device | None = None,
                        max_length: int | None = None) -> "HFMaskedDenoiser":
        """Load a local Hugging Face model folder.

        kind: "auto" (from the config's model_type / architectures) or one of `KINDS`.
        mask_id: default: for masked_lm the tokenizer's mask token (if the folder has a
            tokenizer), else the config's `mask_token_id`; see the class docstring.
        trust_remote_code: needed for LLaDA and Dream, whose model code ships in the folder;
            read that code before passing True.
        dtype: e.g. torch.bfloat16 or "auto"; None keeps transformers' default.
        device: where to put the model (default: where transformers loads it, the CPU).
        """
        path = resolve_folder(path)
        raw = read_config_json(path)
        if kind == "auto":
            kind = infer_kind(raw)
        elif kind not in KINDS:
            raise ValueError(f"kind must be 'auto' or one of {KINDS}, got {kind!r}")

        from transformers import AutoModel, AutoModelForMaskedLM
        from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
        if (not trust_remote_code and raw.get("auto_map")
                and raw.get("model_type") not in CONFIG_MAPPING_NAMES):
            raise ValueError(f"{path} holds model_type {raw.get('model_type')!r}, whose code ships "
                             f"in the folder (auto_map): read it, then pass trust_remote_code=True")
        load_kw = {"trust_remote_code": trust_remote_code, "local_files_only": True}
        if dtype is not None:
            load_kw[_dtype_keyword()] = dtype
        auto = AutoModelForMaskedLM if kind == "masked_lm" else AutoModel
        weights = path / "model.safetensors"
        if weights.is_file():
            from .checkpoint import check_safetensors
            check_safetensors(weights)                # a truncated file: an error naming it
        try:
            model = auto.from_pretrained(str(path), **load_kw)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as e:
            raise ValueError(f"transformers could not load the {kind} model in {path} "
                             f"(config.json says model_type {raw.get('model_type')!r}): "
                             f"{type(e).__name__}: {str(e)[:800]}") from e
        if device is not None:
            model.to(device)
        model.eval()

        if mask_id is None and kind == "masked_lm" and raw.get("mask_token_id") is None:
            mask_id = _tokenizer_mask_id(path, trust_remote_code)
        return cls(model, kind=kind, mask_id=mask_id, max_length=max_length)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def save_pretrained(self, path: str | Path) -> None:
        """The wrapped model's own `save_pretrained` folder (config.json + model.safetensors),
        written atomically; `load_denoiser(path)` reads it back through this adapter."""
        from .checkpoint import write_folder_atomically
        write_folder_atomically(path, lambda tmp: self.model.save_pretrained(str(tmp)))

    def __repr__(self) -> str:
        return (f"HFMaskedDenoiser(kind={self.kind!r}, model={type(self.model).__name__}, "
                f"mask_id={self.mask_id}, vocab_size={self.vocab_size}, "
                f"max_length={self.max_length}, hidden_size={self.hidden_size})")


def _tokenizer_mask_id(path: Path, trust_remote_code: bool) -> int | None:
    """The mask token id of the folder's tokenizer; None if the folder has no tokenizer or
    the tokenizer has no mask token."""
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        return None
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True,
                                              trust_remote_code=trust_remote_code)
    return getattr(tokenizer, "mask_token_id", None)


def _compute_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype the attention logits have: autocast's on the CPU or GPU, else the weights'."""
    device = next(model.parameters()).device
    if torch.is_autocast_enabled(device.type):
        return torch.get_autocast_dtype(device.type)
    return next(model.parameters()).dtype


def _dtype_keyword() -> str:
    """transformers renamed from_pretrained's `torch_dtype` to `dtype` in 4.56."""
    import transformers
    from packaging.version import Version
    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"
