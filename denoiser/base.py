"""The one interface every frozen masked diffusion model (MDM) is used through.

A denoiser maps token ids `[batch, length]`, with `mask_id` at masked positions, to logits
`[batch, length, vocab_size]` over the clean token at every position, and optionally its last
hidden states `[batch, length, d]`, which the learned planner uses as features.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class DenoiserOutput:
    logits: torch.Tensor                  # [batch, length, vocab_size]
    hidden: torch.Tensor | None = None    # [batch, length, d]


class Denoiser(nn.Module):
    """Base class: subclasses set `mask_id`, `vocab_size`, `max_length`, `hidden_size` and
    implement `forward(tokens, return_hidden=False) -> DenoiserOutput`."""

    mask_id: int
    vocab_size: int
    max_length: int
    hidden_size: int | None = None
    # whether `forward` takes `attention_mask` `[batch, length]` bool (True: a real position,
    # False: padding no position may attend to), so rows of different lengths share a batch
    supports_padding: bool = False
    # a denoiser with state across the calls of one `planner.sample()` call (a KV cache):
    # sample() calls `begin(tokens)` once before its first step and passes `rows` (each
    # sequence's row in the batch given to sample) to every forward
    stateful: bool = False

    def begin(self, tokens: torch.Tensor) -> None:
        """Called once per `planner.sample()` call by a stateful denoiser's loop."""

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False) -> DenoiserOutput:
        raise NotImplementedError


def check_attention_mask(attention_mask: torch.Tensor, tokens: torch.Tensor) -> None:
    """`[batch, length]` bool with at least one real position per row."""
    if not isinstance(attention_mask, torch.Tensor) or attention_mask.dtype != torch.bool:
        raise TypeError(f"attention_mask must be a bool tensor (True at real positions), got "
                        f"{getattr(attention_mask, 'dtype', type(attention_mask).__name__)}")
    if attention_mask.shape != tokens.shape:
        raise ValueError(f"attention_mask has shape {tuple(attention_mask.shape)}; expected the "
                         f"tokens' {tuple(tokens.shape)}")
    if attention_mask.numel() and not bool(attention_mask.any(-1).all()):
        raise ValueError("attention_mask leaves a row with no real position")


def check_tokens(tokens: torch.Tensor, vocab_size: int, max_length: int, mask_id: int) -> None:
    """Raise a clear error for tokens the denoiser cannot take."""
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"tokens must be a torch.Tensor, got {type(tokens).__name__}")
    if tokens.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"tokens must be int64 or int32 token ids, got dtype {tokens.dtype}")
    if tokens.dim() != 2:
        raise ValueError(f"tokens must be [batch, length], got shape {tuple(tokens.shape)}")
    if tokens.shape[1] > max_length:
        raise ValueError(f"length {tokens.shape[1]} exceeds the denoiser's max_length {max_length}")
    if tokens.numel():
        lo, hi = int(tokens.min()), int(tokens.max())
        if lo < 0 or hi >= vocab_size:
            bad = lo if lo < 0 else hi
            raise ValueError(f"token id {bad} is outside the vocabulary [0, {vocab_size}); "
                             f"mask_id is {mask_id}")


class FrozenDenoiser:
    """A denoiser in eval mode with `requires_grad=False`, run under `torch.inference_mode`.

    On CUDA it runs under bf16 autocast; logits come back as float32. Outputs are cloned out
    of inference mode so that a planner may feed them to trainable layers. `fingerprint()`
    hashes the weights, so a training run can check they never changed.
    """

    def __init__(self, model: Denoiser, device: str | torch.device | None = None,
                 bf16: bool | None = None):
        self.model = model
        if device is not None:
            model.to(device)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.device = next(model.parameters()).device
        self.bf16 = self.device.type == "cuda" if bf16 is None else bf16
        self.mask_id = int(model.mask_id)
        self.vocab_size = int(model.vocab_size)
        self.max_length = int(model.max_length)
        self.hidden_size = model.hidden_size
        self.calls = 0  # forward passes so far, counted per sequence

    def __call__(self, tokens: torch.Tensor, return_hidden: bool = False,
                 attention_mask: torch.Tensor | None = None, **state) -> DenoiserOutput:
        """attention_mask: optional `[batch, length]` bool, False at padding (a denoiser with
        `supports_padding` only). state: keywords a stateful denoiser takes per call (a KV
        cache's `rows`), passed through."""
        check_tokens(tokens, self.vocab_size, self.max_length, self.mask_id)
        kwargs = dict(state)
        if attention_mask is not None:
            check_attention_mask(attention_mask, tokens)
            if not getattr(self.model, "supports_padding", False):
                raise ValueError(f"{type(self.model).__name__} takes no attention mask "
                                 f"(supports_padding is False), so it cannot run a padded batch "
                                 f"of rows of different lengths: give rows of one length")
            kwargs["attention_mask"] = attention_mask.to(self.device)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16,
                                                    enabled=self.bf16):
            out = self.model(tokens.to(self.device), return_hidden=return_hidden, **kwargs)
        self.calls += tokens.shape[0]
        logits = out.logits.float().clone()
        hidden = out.hidden.float().clone() if (return_hidden and out.hidden is not None) else None
        return DenoiserOutput(logits, hidden)

    @property
    def identity(self) -> str:
        """The weights' fingerprint, computed once (they are frozen): what a trained planner
        records to refuse another denoiser."""
        if getattr(self, "_identity", None) is None:
            self._identity = self.fingerprint()
        return self._identity

    def fingerprint(self) -> str:
        """sha256 over every tensor of the state dict, recomputed on each call."""
        h = hashlib.sha256()
        for name, t in sorted(self.model.state_dict().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        return h.hexdigest()
