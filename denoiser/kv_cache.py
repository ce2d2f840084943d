"""Fast-dLLM's approximate KV cache for semi-AR block decoding (Wu et al. 2025,
arXiv:2505.22618; NVlabs/Fast-dLLM @ 24cc59e, `llada/generate.py`,
`generate_with_prefix_cache`, `generate_with_dual_cache`), on the project's transformer and on
a Hugging Face masked LM whose attention layers hand their keys and values to a cache
(`BertForMaskedLM` and its kind: `denoiser/hf_kv_cache.py`).

A wrapper denoiser with state across the calls of one `planner.sample()` call (`stateful`):
each row's generated region is cut into blocks of `block_length` from its first masked
position (the policy must decode block by block, e.g. `semi_ar`, or `threshold` / `eb` with
the same `block_length`). The first call in a new block runs the whole sequence and keeps
every layer's keys and values (and the logits); the next calls in that block run only

- `mode="prefix"`: the block and everything after it, attending to the kept keys and values
  of the positions before the block (the prompt and the finished blocks);
- `mode="dual"`: the block alone, attending to the kept keys and values before *and after* it
  (the masks of the later blocks, as they were at the block's first call).

The kept entries are not recomputed as the block fills, so the logits are an approximation of
the full forward pass (bidirectional attention: the prefix's states depend on the block); what
that costs is measured by `experiments/bench_kv_cache.py` (docs/results/kv_cache.md). Logits
outside the computed window are those of the block's first call. Rows of a batch in different
blocks are run in groups of one window each.

The bookkeeping (which rows are in which block, the kept tensors) is here; how one model runs a
full pass keeping every layer's keys and values, and a window against kept ones, is its
layers object (`SequenceLayers` below, `denoiser.hf_kv_cache.HFLayers`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Denoiser, DenoiserOutput
from .transformer import MDMTransformer

MODES = ("prefix", "dual")


class SequenceLayers:
    """The project's sequence transformer, run layer by layer for the cache."""

    def __init__(self, model: MDMTransformer):
        self.model = model

    def full(self, tokens, keep):
        """(logits, hidden, keys, values) of the whole sequence: every layer's keys and values
        `[batch, heads, length, head_size]`."""
        n = tokens.shape[1]
        key_mask = keep[:, None, None, :]
        positions = torch.arange(n, device=tokens.device)
        h, rope = self.model.embed(tokens, positions), self.model.rope(positions)
        keys, values = [], []
        for layer in self.model.blocks:
            q, k, v = layer.qkv_heads(h, rope)
            keys.append(k)
            values.append(v)
            h = layer.finish(h, F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask))
        out = self.model.output(h, True)
        return out.logits, out.hidden, keys, values

    def window(self, tokens, keep, start: int, end: int, kept_keys, kept_values):
        """(logits, hidden) of positions [start, end), attending to their own keys and values
        there and to the kept ones elsewhere."""
        positions = torch.arange(start, end, device=tokens.device)
        h, rope = self.model.embed(tokens[:, start:end], positions), self.model.rope(positions)
        key_mask = keep[:, None, None, :]
        for i, layer in enumerate(self.model.blocks):
            q, k, v = layer.qkv_heads(h, rope)
            keys, values = splice(kept_keys[i], k, start, end), splice(kept_values[i], v, start, end)
            h = layer.finish(h, F.scaled_dot_product_attention(q, keys, values, attn_mask=key_mask))
        out = self.model.output(h, True)
        return out.logits, out.hidden


def splice(kept: torch.Tensor, new: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """`kept [batch, heads, length, d]` with positions [start, end) replaced by `new`."""
    kept = kept.to(new.dtype)
    return torch.cat([kept[:, :, :start], new, kept[:, :, end:]], 2)


def cache_layers(model):
    """The layers object that runs `model` for the cache, or a TypeError naming why none can."""
    if isinstance(model, MDMTransformer) and model.config.structure == "sequence":
        return SequenceLayers(model)
    from .hf import HFMaskedDenoiser
    if isinstance(model, HFMaskedDenoiser):
        from .hf_kv_cache import HFLayers
        return HFLayers(model)
    raise TypeError(f"the KV cache runs the project's sequence transformer (MDMTransformer, "
                    f"structure 'sequence') or a Hugging Face masked LM (HFMaskedDenoiser), got "
                    f"{type(model).__name__}"
                    + (f" with structure {model.config.structure!r}"
                       if isinstance(model, MDMTransformer) else ""))


class BlockKVCache(Denoiser):
    stateful = True

    def __init__(self, model, block_length: int, mode: str = "dual"):
        super().__init__()
        self.layers = cache_layers(model)
        if isinstance(block_length, bool) or not isinstance(block_length, int) or block_length < 1:
            raise ValueError(f"block_length must be a positive integer, got {block_length!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.model, self.block_length, self.mode = model, block_length, mode
        self.mask_id, self.vocab_size = model.mask_id, model.vocab_size
        self.max_length, self.hidden_size = model.max_length, model.hidden_size
        self.supports_padding = True
        self.full_calls = self.window_calls = 0     # forward passes of each kind, per sequence
        self._origin = None

    def begin(self, tokens: torch.Tensor) -> None:
        masked = tokens == self.mask_id
        self._origin = masked.long().argmax(-1).cpu()
        self._block = torch.full((tokens.shape[0],), -1, dtype=torch.long)
        self._keys = self._values = self._logits = self._hidden = None

    def _window(self, rows: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row's current block index and window start."""
        first = (tokens == self.mask_id).long().argmax(-1).cpu()
        origin = self._origin[rows]
        block = (first - origin).clamp(min=0) // self.block_length
        return block, origin + block * self.block_length

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False,
                attention_mask: torch.Tensor | None = None,
                rows: torch.Tensor | None = None) -> DenoiserOutput:
        if self._origin is None or rows is None:
            raise RuntimeError("BlockKVCache keeps state per planner.sample() call: run it through "
                               "planner.sample() (which calls begin() and passes rows)")
        rows = rows.cpu()
        keep = torch.ones_like(tokens, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        block, start = self._window(rows, tokens)
        fresh = self._block[rows] != block
        if bool(fresh.any()):
            self._refresh(rows[fresh], tokens[fresh], keep[fresh])
            self._block[rows[fresh]] = block[fresh]
        stale = torch.nonzero(~fresh).squeeze(1)
        for s in torch.unique(start[stale]).tolist():
            group = stale[start[stale] == s]
            self._window_pass(rows[group], tokens[group], keep[group], int(s))
        logits = self._logits[rows.to(self._logits.device)]
        hidden = None
        if return_hidden:
            if self._hidden is None:
                raise ValueError(f"{type(self.model).__name__} returns no hidden states, so "
                                 f"return_hidden=True cannot be served")
            hidden = self._hidden[rows.to(self._hidden.device)]
        return DenoiserOutput(logits, hidden)

    @staticmethod
    def _store(kept: torch.Tensor | None, rows, value: torch.Tensor, n: int) -> torch.Tensor:
        """`value` at `rows` of the kept `[n, ...]` tensor, made on first use."""
        if kept is None:
            kept = torch.zeros((n, *value.shape[1:]), dtype=value.dtype, device=value.device)
        kept[rows.to(kept.device)] = value.to(kept.dtype)
        return kept

    def _refresh(self, rows, tokens, keep) -> None:
        """The whole sequence, keeping every layer's keys and values: the block's first call."""
        self.full_calls += tokens.shape[0]
        n = self._origin.shape[0]
        logits, hidden, keys, values = self.layers.full(tokens, keep)
        if self._keys is None:
            self._keys, self._values = [None] * len(keys), [None] * len(values)
        for i, (k, v) in enumerate(zip(keys, values)):
            self._keys[i] = self._store(self._keys[i], rows, k, n)
            self._values[i] = self._store(self._values[i], rows, v, n)
        self._logits = self._store(self._logits, rows, logits, n)
        if hidden is not None:
            self._hidden = self._store(self._hidden, rows, hidden, n)

    def _window_pass(self, rows, tokens, keep, start: int) -> None:
        """Only the window (the block, and in prefix mode what follows it), against the kept
        keys and values of the other positions."""
        self.window_calls += tokens.shape[0]
        n = tokens.shape[1]
        end = n if self.mode == "prefix" else min(start + self.block_length, n)
        index = rows.to(self._keys[0].device)
        logits, hidden = self.layers.window(tokens, keep, start, end,
                                            [k[index] for k in self._keys],
                                            [v[index] for v in self._values])
        self._logits[rows.to(self._logits.device), start:end] = logits.to(self._logits.dtype)
        if hidden is not None and self._hidden is not None:
            self._hidden[rows.to(self._hidden.device), start:end] = hidden.to(self._hidden.dtype)
