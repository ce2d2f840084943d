"""Fast-dLLM's approximate KV cache for semi-AR block decoding (Wu et al. 2025,
arXiv:2505.22618; NVlabs/Fast-dLLM @ 24cc59e, `llada/generate.py`,
`generate_with_prefix_cache`, `generate_with_dual_cache`), on the project's transformer.

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
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Denoiser, DenoiserOutput
from .transformer import MDMTransformer

MODES = ("prefix", "dual")


class BlockKVCache(Denoiser):
    stateful = True

    def __init__(self, model: MDMTransformer, block_length: int, mode: str = "dual"):
        super().__init__()
        if not isinstance(model, MDMTransformer) or model.config.structure != "sequence":
            raise TypeError(f"the KV cache runs the project's sequence transformer "
                            f"(MDMTransformer, structure 'sequence'), got {type(model).__name__}")
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
        batch, length = tokens.shape
        self._block = torch.full((batch,), -1, dtype=torch.long)
        self._keys = [None] * len(self.model.blocks)
        self._values = [None] * len(self.model.blocks)
        self._logits = None
        self._hidden = None

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
        batch, length = tokens.shape
        keep = torch.ones_like(tokens, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        block, start = self._window(rows, tokens)
        fresh = self._block[rows] != block
        if self._logits is None:
            self._allocate(tokens)
        if bool(fresh.any()):
            self._refresh(rows[fresh], tokens[fresh], keep[fresh])
            self._block[rows[fresh]] = block[fresh]
        stale = torch.nonzero(~fresh).squeeze(1)
        for s in torch.unique(start[stale]).tolist():
            group = stale[start[stale] == s]
            self._window_pass(rows[group], tokens[group], keep[group], int(s))
        logits = self._logits[rows.to(self._logits.device)]
        hidden = self._hidden[rows.to(self._hidden.device)] if return_hidden else None
        return DenoiserOutput(logits, hidden)

    def _allocate(self, tokens: torch.Tensor) -> None:
        n = self._origin.shape[0]
        length, d = tokens.shape[1], self.model.config.d_model
        heads = self.model.config.n_heads
        kw = dict(device=tokens.device)
        self._logits = torch.zeros(n, length, self.vocab_size, **kw)
        self._hidden = torch.zeros(n, length, d, **kw)
        for i in range(len(self.model.blocks)):
            self._keys[i] = torch.zeros(n, heads, length, d // heads, **kw)
            self._values[i] = torch.zeros(n, heads, length, d // heads, **kw)

    def _refresh(self, rows, tokens, keep) -> None:
        """The whole sequence, keeping every layer's keys and values: the block's first call."""
        self.full_calls += tokens.shape[0]
        n = tokens.shape[1]
        key_mask = keep[:, None, None, :]
        positions = torch.arange(n, device=tokens.device)
        h, rope = self.model.embed(tokens, positions), self.model.rope(positions)
        for i, layer in enumerate(self.model.blocks):
            q, k, v = layer.qkv_heads(h, rope)
            self._keys[i][rows], self._values[i][rows] = k.to(self._keys[i].dtype), v.to(self._values[i].dtype)
            h = layer.finish(h, F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask))
        out = self.model.output(h, True)
        self._logits[rows], self._hidden[rows] = out.logits, out.hidden.to(self._hidden.dtype)

    def _window_pass(self, rows, tokens, keep, start: int) -> None:
        """Only the window (the block, and in prefix mode what follows it), against the kept
        keys and values of the other positions."""
        self.window_calls += tokens.shape[0]
        n = tokens.shape[1]
        end = n if self.mode == "prefix" else min(start + self.block_length, n)
        positions = torch.arange(start, end, device=tokens.device)
        h, rope = self.model.embed(tokens[:, start:end], positions), self.model.rope(positions)
        key_mask = keep[:, None, None, :]
        for i, layer in enumerate(self.model.blocks):
            q, k, v = layer.qkv_heads(h, rope)
            kept_k, kept_v = self._keys[i][rows].to(k.dtype), self._values[i][rows].to(v.dtype)
            keys = torch.cat([kept_k[:, :, :start], k, kept_k[:, :, end:]], 2)
            values = torch.cat([kept_v[:, :, :start], v, kept_v[:, :, end:]], 2)
            h = layer.finish(h, F.scaled_dot_product_attention(q, keys, values, attn_mask=key_mask))
        out = self.model.output(h, True)
        self._logits[rows, start:end] = out.logits
        self._hidden[rows, start:end] = out.hidden.to(self._hidden.dtype)
