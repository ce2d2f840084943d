"""Frozen pretrained masked diffusion models behind one interface."""
from .base import Denoiser, DenoiserOutput, FrozenDenoiser, check_tokens
from .hf import HFMaskedDenoiser
from .loading import load_denoiser
from .objective import masked_diffusion_loss
from .transformer import MDMConfig, MDMTransformer

__all__ = ["Denoiser", "DenoiserOutput", "FrozenDenoiser", "check_tokens", "HFMaskedDenoiser",
           "load_denoiser", "masked_diffusion_loss", "MDMConfig", "MDMTransformer"]
