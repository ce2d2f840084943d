"""`load_denoiser(path)`: one entry point for every denoiser checkpoint folder.

The folder's `config.json` decides: `model_type == "mdm_transformer"` is the project's own
`MDMTransformer`; anything else goes through the Hugging Face adapter `HFMaskedDenoiser`.
"""
from __future__ import annotations

from pathlib import Path

from .base import Denoiser
from .paths import resolve_folder


def load_denoiser(path: str | Path, **kw) -> Denoiser:
    """Load the denoiser in `path`; `kw` go to the chosen class's `from_pretrained`
    (`MDMTransformer`: vocab_size, max_length, mask_id, map_location; `HFMaskedDenoiser`:
    kind, mask_id, trust_remote_code, dtype, device, max_length)."""
    from .hf import HFMaskedDenoiser, read_config_json

    path = resolve_folder(path)
    config = read_config_json(path)
    if config.get("model_type") == "mdm_transformer":
        from .transformer import MDMTransformer
        return MDMTransformer.from_pretrained(path, **kw)
    return HFMaskedDenoiser.from_pretrained(path, **kw)
