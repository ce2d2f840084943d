"""Fresh Hugging Face masked LMs for a task, built without any download, to train here.

`train_denoiser`'s denoiser config may name `bert_masked_lm` as its `_target_`: the task fills
in the vocabulary size, mask id, length and (for a character task) the characters, and the
trainer gets an `HFMaskedDenoiser` it trains with the masked-diffusion objective like its own
transformer. The saved folder is an ordinary `BertForMaskedLM` checkpoint whose config carries
`mask_token_id` and `vocabulary`, so `load_denoiser` reads it back through the adapter.
"""
from __future__ import annotations

from .hf import HFMaskedDenoiser


def bert_masked_lm(vocab_size: int, mask_id: int, max_length: int, structure: str = "sequence",
                   vocabulary: str | None = None, hidden_size: int = 128, num_layers: int = 4,
                   num_heads: int = 4, intermediate_size: int = 512) -> HFMaskedDenoiser:
    """A randomly initialised `BertForMaskedLM` (no dropout, one segment type, no padding
    token: every id is a real character or the mask) wrapped as a denoiser."""
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
    return HFMaskedDenoiser(BertForMaskedLM(config), kind="masked_lm", mask_id=mask_id,
                            max_length=max_length)
