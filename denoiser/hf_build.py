"""Fresh Hugging Face masked LMs for a task, built without any download, to train here.

`train_denoiser`'s denoiser config may name `bert_masked_lm` as its `_target_`: the task fills
in the vocabulary size, mask id, length and (for a character task) the characters, and the
trainer gets an `HFMaskedDenoiser` it trains with the masked-diffusion objective like its own
transformer. The saved folder is an ordinary `BertForMaskedLM` checkpoint whose config carries
`mask_token_id` and `vocabulary`, so `load_denoiser` reads it back through the adapter.
"""
from __future__ import annotations

import math

import torch

from .hf import HFMaskedDenoiser
from .position_bias import CONFIG_KEY as ALIBI_KEY, alibi_slopes

POSITION_INITS = ("random", "sinusoidal")
POSITION_BIASES = ("none", "alibi")


def sinusoidal_table(length: int, width: int, std: float) -> torch.Tensor:
    """`[length, width]` the Transformer's sinusoidal position code, scaled to standard
    deviation `std` (the other embeddings' initial scale)."""
    position = torch.arange(length, dtype=torch.float64)[:, None]
    rate = torch.exp(-math.log(10000.0) * torch.arange(0, width, 2, dtype=torch.float64) / width)
    table = torch.zeros(length, width, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : width // 2]
    return (table / table.std() * std).float()


def bert_masked_lm(vocab_size: int, mask_id: int, max_length: int, structure: str = "sequence",
                   vocabulary: str | None = None, hidden_size: int = 128, num_layers: int = 4,
                   num_heads: int = 4, intermediate_size: int = 512,
                   position_init: str = "random", position_bias: str = "none") -> HFMaskedDenoiser:
    """A randomly initialised `BertForMaskedLM` (no dropout, one segment type, no padding
    token: every id is a real character or the mask) wrapped as a denoiser.

    position_init: "random" (BERT's normal init) or "sinusoidal": the absolute position
    embeddings start as the sinusoidal code at the embeddings' scale, whose dot products depend
    on the offset, so attention can find a character's neighbours from the start (a randomly
    initialised BERT sits at the unigram loss until it learns that; still trainable either way).
    position_bias: "none" or "alibi": ALiBi's distance bias added to every head's attention
    logits through the attention mask (`denoiser.position_bias`; its slopes recorded in the
    config as `alibi_slopes`, which the adapter reads back), local attention from the first step.
    """
    if position_init not in POSITION_INITS:
        raise ValueError(f"position_init must be one of {POSITION_INITS}, got {position_init!r}")
    if position_bias not in POSITION_BIASES:
        raise ValueError(f"position_bias must be one of {POSITION_BIASES}, got {position_bias!r}")
    if structure != "sequence":
        raise ValueError(f"a BERT masked LM has only absolute positions: structure must be "
                         f"'sequence', got {structure!r}")
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=vocab_size, hidden_size=hidden_size,
                        num_hidden_layers=num_layers, num_attention_heads=num_heads,
                        intermediate_size=intermediate_size, max_position_embeddings=max_length,
                        type_vocab_size=1, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, pad_token_id=None,
                        mask_token_id=mask_id, vocabulary=vocabulary)
    if position_bias == "alibi":
        setattr(config, ALIBI_KEY, alibi_slopes(num_heads))
    model = BertForMaskedLM(config)
    if position_init == "sinusoidal":
        weight = model.bert.embeddings.position_embeddings.weight
        with torch.no_grad():
            weight.copy_(sinusoidal_table(max_length, hidden_size, config.initializer_range))
    return HFMaskedDenoiser(model, kind="masked_lm", mask_id=mask_id, max_length=max_length)
