"""The independent evaluator: a small causal (autoregressive) character transformer.

Trained by `python -m experiments.train_ar` on the text task's training split, and used only to
score samples (generative perplexity). Input ids are the characters 0..C-1 and a start token C
(the first character is predicted from it alone); outputs are logits over the C characters.
Checkpoint folders hold `config.json` (with the vocabulary) and `model.safetensors`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from denoiser.checkpoint import load_folder, save_folder

from .vocabulary import check_vocabulary

MODEL_TYPE = "char_ar_transformer"


@dataclass
class CharARConfig:
    vocabulary: str          # the characters, sorted; ids 0..len-1, the start token is len
    max_length: int = 128
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 512
    dropout: float = 0.0

    def __post_init__(self):
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}")
        if self.max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {self.max_length}")

    @property
    def n_chars(self) -> int:
        return len(self.vocabulary)


class CausalBlock(nn.Module):
    def __init__(self, cfg: CharARConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(),
                                nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, n, d = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(b, n, 3, self.n_heads, d // self.n_heads).unbind(2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                           is_causal=True)
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return h + self.drop(self.ff(self.ln2(h)))


class CharARTransformer(nn.Module):
    def __init__(self, config: CharARConfig):
        super().__init__()
        self.config = config
        self.start_id = config.n_chars
        d = config.d_model
        self.tok = nn.Embedding(config.n_chars + 1, d)
        self.pos = nn.Embedding(config.max_length, d)
        self.blocks = nn.ModuleList(CausalBlock(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.n_chars)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, chars: torch.Tensor) -> torch.Tensor:
        """chars `[batch, length]` ids in [0, C) -> logits `[batch, length, C]`: position i
        predicts chars[i] from chars[:i] (the start token stands in front)."""
        b, n = chars.shape
        if n > self.config.max_length:
            raise ValueError(f"length {n} exceeds the scorer's max_length {self.config.max_length}")
        if chars.numel() and (int(chars.min()) < 0 or int(chars.max()) >= self.config.n_chars):
            raise ValueError(f"character ids must be in [0, {self.config.n_chars}); got "
                             f"{int(chars.min())}..{int(chars.max())} (a mask left in a sample?)")
        start = torch.full((b, 1), self.start_id, dtype=torch.long, device=chars.device)
        inputs = torch.cat([start, chars[:, :-1]], 1)
        h = self.tok(inputs) + self.pos(torch.arange(n, device=chars.device))
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h)).float()

    def nll(self, chars: torch.Tensor) -> torch.Tensor:
        """`[batch, length]` -> `[batch, length]` -log p(chars[i] | chars[:i]) in nats."""
        logits = self(chars)
        return F.cross_entropy(logits.transpose(1, 2), chars, reduction="none")

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, path: str | Path) -> None:
        save_folder(path, {"model_type": MODEL_TYPE, **asdict(self.config)}, self.state_dict())

    @classmethod
    def from_pretrained(cls, path: str | Path, *, vocabulary: str | None = None) -> "CharARTransformer":
        """Load a folder; with `vocabulary`, refuse a scorer trained on another one."""
        config, state = load_folder(path)
        if config.get("model_type") != MODEL_TYPE:
            raise ValueError(f"{path} holds model_type={config.get('model_type')!r}, expected "
                             f"{MODEL_TYPE!r} (an autoregressive character scorer)")
        if vocabulary is not None:
            check_vocabulary(f"the scorer at {path}", config.get("vocabulary"), vocabulary)
        model = cls(CharARConfig(**{k: v for k, v in config.items() if k != "model_type"}))
        model.load_state_dict(state)
        return model.eval()
