"""Fast-dLLM's KV cache (`denoiser.kv_cache.BlockKVCache`) on a Hugging Face masked LM.

A masked LM in `transformers` is a bidirectional encoder: `BertForMaskedLM.forward` names no
`past_key_values`, and its `DynamicCache` only ever appends (a causal decoder's cache). But in
transformers 5 every `BertSelfAttention` (and the attention of the models copied from it)
hands its keys and values to `cache.update(key, value, layer_idx)` and attends to what that
returns, and `BertModel` passes a `cache=` keyword down from the masked LM's forward. So a cache
object of our own, passed there, does what Fast-dLLM's modified `modeling_llada.py` does:

- on a block's first call (the whole sequence) it records every layer's keys and values;
- on the next calls (the window's tokens, at their own `position_ids`) it returns the kept keys
  and values with the window's own spliced in at its positions, so the window's queries attend
  to the whole sequence in its own order, the kept entries standing in for the rest.

The layers and their arithmetic are the model's own (its attention implementation, its
LayerNorms). What it needs from the model, checked once by a probe pass: its attention calls
`cache.update` once per layer, and it numbers positions 0, 1, ... (RoBERTa-style models number
them from the padding id and are refused). Not LLaDA or Dream (their remote code has no such
hook; Fast-dLLM ships its own `modeling_llada.py`).
"""
from __future__ import annotations

import inspect

import torch

from .hf import _PADDING_OFFSET_POSITIONS, HFMaskedDenoiser, _compute_dtype
from .kv_cache import splice
from .position_bias import distance_bias


class KeptKeys:
    """The `cache` a Hugging Face attention layer hands its keys and values to.

    Without kept tensors it records each layer's `[batch, heads, length, head_size]` keys and
    values (a full pass); with them it returns them with positions [start, end) replaced by the
    layer's own (a window pass). It never grows: `get_seq_length()` is 0, so the model's own
    position numbering is untouched (the window's positions are passed explicitly)."""

    def __init__(self, kept_keys=None, kept_values=None, start: int = 0, end: int = 0):
        self.kept_keys, self.kept_values, self.start, self.end = kept_keys, kept_values, start, end
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    def update(self, key_states, value_states, layer_idx, *args, **kwargs):
        if layer_idx != len(self.keys):
            raise RuntimeError(f"the model's attention layers updated the cache out of order "
                               f"(layer {layer_idx} after {len(self.keys)}): no KV cache for it")
        self.keys.append(key_states)
        self.values.append(value_states)
        if self.kept_keys is None:
            return key_states, value_states
        return (splice(self.kept_keys[layer_idx], key_states, self.start, self.end),
                splice(self.kept_values[layer_idx], value_states, self.start, self.end))

    def get_seq_length(self, *args, **kwargs) -> int:
        return 0


class HFLayers:
    """An `HFMaskedDenoiser` (kind masked_lm) run for the cache through a `KeptKeys` cache."""

    def __init__(self, den: HFMaskedDenoiser):
        model = den.model
        name = type(model).__name__
        if den.kind != "masked_lm":
            raise TypeError(f"the KV cache runs a masked_lm Hugging Face model, got kind "
                            f"{den.kind!r} ({name}): LLaDA's and Dream's code take no cache of "
                            f"keys and values for bidirectional attention")
        model_type = getattr(model.config, "model_type", None)
        if model_type in _PADDING_OFFSET_POSITIONS:
            raise TypeError(f"{name} (model_type {model_type!r}) numbers positions from its "
                            f"padding id, so a window's positions cannot be given: no KV cache")
        base = getattr(model, "base_model", model)
        params = inspect.signature(base.forward).parameters
        self.cache_keyword = next((k for k in ("cache", "past_key_values") if k in params), None)
        if self.cache_keyword is None or "position_ids" not in params:
            raise TypeError(f"{name}'s forward takes no cache= (or past_key_values=) and "
                            f"position_ids=: no KV cache for it")
        self.den = den
        self.n_layers = self._probe()

    def _run(self, tokens, keep, cache: KeptKeys, positions=None):
        kwargs = {"input_ids": tokens.long(), "attention_mask": keep.long(),
                  self.cache_keyword: cache}
        if self.den.alibi_slopes is not None:      # the distance bias, queries at their positions
            queries = (torch.arange(tokens.shape[1], device=tokens.device) if positions is None
                       else positions)
            kwargs["attention_mask"] = distance_bias(self.den.alibi_slopes, queries, keep.shape[1],
                                                     keep=keep, dtype=_compute_dtype(self.den.model))
        if positions is not None:
            kwargs["position_ids"] = positions[None].expand(tokens.shape[0], -1)
        if self.den._hidden_states:
            kwargs["output_hidden_states"] = True
        with torch.no_grad():
            out = self.den.model(**kwargs)
        hidden = out.hidden_states[-1] if self.den._hidden_states else None
        return out.logits, hidden

    def _probe(self) -> int:
        """The number of layers that hand their keys and values to the cache (refused if none)."""
        device = next(self.den.model.parameters()).device
        tokens = torch.zeros(1, 2, dtype=torch.long, device=device)
        cache = KeptKeys()
        was_training = self.den.model.training
        self.den.model.eval()
        try:
            self._run(tokens, torch.ones_like(tokens, dtype=torch.bool), cache)
        finally:
            self.den.model.train(was_training)
        if not cache.keys:
            import transformers
            raise TypeError(f"{type(self.den.model).__name__}'s attention hands no keys and values "
                            f"to a cache (transformers {transformers.__version__}; BERT-style "
                            f"models do from transformers 5): no KV cache for it")
        return len(cache.keys)

    def full(self, tokens, keep):
        """(logits, hidden, keys, values) of the whole sequence, every layer's keys and values."""
        cache = KeptKeys()
        logits, hidden = self._run(tokens, keep, cache)
        return logits, hidden, cache.keys, cache.values

    def window(self, tokens, keep, start: int, end: int, kept_keys, kept_values):
        """(logits, hidden) of positions [start, end) against the kept keys and values."""
        cache = KeptKeys(kept_keys, kept_values, start, end)
        positions = torch.arange(start, end, device=tokens.device)
        return self._run(tokens[:, start:end], keep, cache, positions)
