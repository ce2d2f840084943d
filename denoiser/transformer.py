"""The project's own MDM: a small bidirectional transformer denoiser.

Pre-LayerNorm blocks with no time conditioning (as in MDLM, the masked count tells the model
the noise level). Positional structure is task-aware: `structure="sudoku"` adds row, column and
box embeddings and a learned per-head attention bias for each cell relation (same row / column
/ box), which is how the constraints are laid out; `structure="sequence"` uses learned
absolute position embeddings (`positions="learned"`, the shipped 0.83M text MDM) or rotary
embeddings of the queries and keys (`positions="rotary"`, RoFormer / LLaDA), which see relative
offsets from the first step, so a character model need not first learn to find its neighbours.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import Denoiser, DenoiserOutput
from .checkpoint import check_compatible, load_folder, load_state, save_folder

STRUCTURES = ("sequence", "sudoku")
POSITIONS = ("learned", "rotary")
SCHEDULES = ("linear", "learned")


@dataclass
class MDMConfig:
    vocab_size: int
    mask_id: int
    max_length: int
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 8
    d_ff: int = 512
    dropout: float = 0.0
    structure: str = "sequence"
    positions: str = "learned"       # "sequence" only: learned absolute or rotary
    # the masking schedule the model was trained with: "linear" (alpha_t = 1 - t, MDLM / MD4)
    # or "learned" (GenMD4, alpha_t(x) = 1 - t^(w_x): one learned power per token value,
    # `masking_power()`, trained by denoiser.genmd4.GenMD4Objective)
    schedule: str = "linear"
    vocabulary: str | None = None   # a character task's characters (ids 0..), recorded to refuse another

    def __post_init__(self):
        if self.structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}, got {self.structure!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {self.positions!r}")
        if self.positions == "rotary" and self.structure != "sequence":
            raise ValueError(f"positions 'rotary' is for structure 'sequence', got structure "
                             f"{self.structure!r}")
        if self.positions == "rotary" and (self.d_model // self.n_heads) % 2:
            raise ValueError(f"rotary positions need an even head size, got d_model "
                             f"{self.d_model} / n_heads {self.n_heads}")
        if not 0 <= self.mask_id < self.vocab_size:
            raise ValueError(f"mask_id {self.mask_id} must be a token id in [0, {self.vocab_size})")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} must be divisible by n_heads {self.n_heads}")
        if self.structure == "sudoku" and (self.max_length, self.mask_id) != (81, 0):
            # another mask id would make the grid's blanks givens and some givens blanks
            raise ValueError(f"structure 'sudoku' is the 81-cell grid of tasks.sudoku (blank 0): "
                             f"it needs max_length 81 and mask_id 0, got max_length "
                             f"{self.max_length} and mask_id {self.mask_id}")


def rotary_angles(positions: torch.Tensor, head_size: int, base: float = 10000.0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) `[n, head_size]` of RoFormer's rotation at `positions` `[n]` (the two halves
    of a head rotate as pairs, as in GPT-NeoX and LLaMA)."""
    inv = base ** (-torch.arange(0, head_size, 2, device=positions.device).float() / head_size)
    angles = positions.float()[:, None] * inv[None, :]
    angles = torch.cat([angles, angles], -1)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of `x [..., n, head_size]` (x1, x2 halves -> x1 cos - x2 sin, ...)."""
    x1, x2 = x.chunk(2, -1)
    return (x * cos + torch.cat([-x2, x1], -1) * sin).to(x.dtype)


class Block(nn.Module):
    def __init__(self, cfg: MDMConfig, n_relations: int):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(),
                                nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)
        self.relation_bias = nn.Embedding(n_relations, cfg.n_heads) if n_relations else None

    def qkv_heads(self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`[b, n, d]` -> q, k, v `[b, heads, n, d / heads]`; rope: the (cos, sin) `[n, d /
        heads]` of `rotary_angles` at the rows' positions, rotating q and k."""
        b, n, d = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(b, n, 3, self.n_heads, d // self.n_heads).unbind(2)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        return q, k, v

    def finish(self, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """The residual update from the attention output `a` `[b, heads, n, d / heads]`."""
        b, n, d = h.shape
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, d)))
        return h + self.drop(self.ff(self.ln2(h)))

    def forward(self, h: torch.Tensor, relations: torch.Tensor | None,
                key_mask: torch.Tensor | None = None,
                rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """key_mask: `[b, 1, 1, n]` bool, False at padding keys."""
        q, k, v = self.qkv_heads(h, rope)
        bias = key_mask
        if self.relation_bias is not None:
            # [n, n, heads] -> [1, heads, n, n], in the activations' dtype (bf16 under autocast)
            bias = self.relation_bias(relations).permute(2, 0, 1).unsqueeze(0).to(q.dtype)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.finish(h, a)


class MDMTransformer(Denoiser):
    def __init__(self, config: MDMConfig):
        super().__init__()
        self.config = config
        self.mask_id, self.vocab_size = config.mask_id, config.vocab_size
        self.max_length, self.hidden_size = config.max_length, config.d_model
        self.vocabulary = config.vocabulary
        self.supports_padding = config.structure == "sequence"
        d = config.d_model
        self.tok = nn.Embedding(config.vocab_size, d)
        if config.structure == "sudoku":
            from .grid import BOX, COL, ROW, relation_ids
            self.row, self.col, self.box = nn.Embedding(9, d), nn.Embedding(9, d), nn.Embedding(9, d)
            self.register_buffer("cell_row", ROW.clone(), persistent=False)
            self.register_buffer("cell_col", COL.clone(), persistent=False)
            self.register_buffer("cell_box", BOX.clone(), persistent=False)
            self.register_buffer("relations", relation_ids(), persistent=False)
            n_rel = 8
        else:
            if config.positions == "learned":
                self.pos = nn.Embedding(config.max_length, d)
            self.relations = None
            n_rel = 0
        self.blocks = nn.ModuleList(Block(config, n_rel) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.vocab_size)
        self.apply(self._init)
        if config.schedule == "learned":
            # softplus(w) = 1 at the start: GenMD4 starts from MD4's linear schedule
            self.schedule_w = nn.Parameter(torch.full((config.vocab_size,), math.log(math.e - 1)))

    def masking_power(self) -> torch.Tensor | None:
        """GenMD4's per-token-value powers w `[vocab]` (alpha_t(x) = 1 - t^(w_x); the mask
        token's entry is unused), or None for a model trained with the linear schedule."""
        if self.config.schedule != "learned":
            return None
        return F.softplus(self.schedule_w.float())

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False,
                attention_mask: torch.Tensor | None = None) -> DenoiserOutput:
        """tokens `[batch, length]` -> logits `[batch, length, vocab]` (mask logit -inf).
        attention_mask: `[batch, length]` bool, False at padding (structure "sequence" only):
        no position attends to it, so a row's logits are those it has alone."""
        n = tokens.shape[1]
        key_mask = None
        if attention_mask is not None:
            if not self.supports_padding:
                raise ValueError("a Sudoku MDM (structure 'sudoku') takes whole grids: no "
                                 "attention_mask")
            key_mask = attention_mask.bool()[:, None, None, :]
        if self.config.structure == "sudoku" and n != 81:
            raise ValueError(f"this Sudoku MDM (structure 'sudoku') takes whole 81-cell grids "
                             f"[batch, 81], got a sequence of {n} cells {tuple(tokens.shape)}")
        rope = None
        if self.config.structure == "sudoku":
            h = self.tok(tokens) + self.row(self.cell_row) + self.col(self.cell_col) + self.box(self.cell_box)
            relations = self.relations
        else:
            positions = torch.arange(n, device=tokens.device)
            h, rope = self.embed(tokens, positions), self.rope(positions)
            relations = None
        for block in self.blocks:
            h = block(h, relations, key_mask, rope)
        return self.output(h, return_hidden)

    def embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Token plus (learned) position embeddings (structure "sequence") at `positions` `[n]`."""
        h = self.tok(tokens)
        return h + self.pos(positions) if self.config.positions == "learned" else h

    def rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The rotary (cos, sin) at `positions` `[n]` that every block's q and k take (None
        with learned positions)."""
        if self.config.positions != "rotary":
            return None
        return rotary_angles(positions, self.config.d_model // self.config.n_heads)

    def output(self, h: torch.Tensor, return_hidden: bool = False) -> DenoiserOutput:
        """The last hidden states `[b, n, d]` -> logits (mask logit -inf)."""
        h = self.ln_f(h)
        logits = self.head(h).float()
        logits[..., self.mask_id] = float("-inf")  # the clean token is never the mask
        return DenoiserOutput(logits, h if return_hidden else None)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save_pretrained(self, path: str | Path) -> None:
        save_folder(path, {"model_type": "mdm_transformer", **asdict(self.config)}, self.state_dict())

    @classmethod
    def from_pretrained(cls, path: str | Path, *, vocab_size: int | None = None,
                        max_length: int | None = None, mask_id: int | None = None,
                        map_location: str = "cpu") -> "MDMTransformer":
        """Load a checkpoint folder; refuse one for another vocabulary, length or mask id."""
        config, state = load_folder(path)
        if config.get("model_type") != "mdm_transformer":
            raise ValueError(f"{path} holds model_type={config.get('model_type')!r}, "
                             f"expected 'mdm_transformer'")
        check_compatible("denoiser checkpoint", path, config, vocab_size=vocab_size,
                         max_length=max_length, mask_id=mask_id)
        fields = {k: v for k, v in config.items() if k != "model_type"}
        known = set(MDMConfig.__dataclass_fields__)
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"{Path(path) / 'config.json'} has unknown keys {unknown}; an "
                             f"mdm_transformer config takes {sorted(known)}")
        try:
            model = cls(MDMConfig(**fields))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{Path(path) / 'config.json'}: {e}") from None
        load_state(model, {k: v.to(map_location) for k, v in state.items()}, path)
        return model
