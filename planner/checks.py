"""The sampling loop's checks: its options, and the denoiser's output once per call.

A step the loop cannot take (logits of the wrong shape, NaN or +inf logits, a masked position
with no token left to choose once the mask column is excluded) is refused with an error that
names what was wrong and where, instead of sampling garbage or looping forever on a position
that can never be filled.
"""
from __future__ import annotations

import math
import warnings

import torch


def check_temperature(temperature) -> float:
    """`temperature` as a float if it is a finite number >= 0 (0: greedy tokens)."""
    ok = (isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
          and math.isfinite(temperature) and temperature >= 0)
    if not ok:
        raise ValueError(f"temperature must be a number >= 0, got {temperature!r}: 0 for greedy "
                         f"tokens, a finite value > 0 to sample at that temperature")
    return float(temperature)


def check_generator(generator) -> torch.Generator | None:
    """None, or a CPU torch.Generator (the loop draws its noise on the CPU)."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r} "
                        f"({type(generator).__name__}); e.g. torch.Generator().manual_seed(0)")
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
    return generator


def check_padding(padding, tokens: torch.Tensor, mask_id: int) -> torch.Tensor | None:
    """None, or `[batch, length]` bool padding whose positions hold no mask token and which
    leaves every row at least one real position."""
    if padding is None:
        return None
    if not isinstance(padding, torch.Tensor) or padding.dtype != torch.bool:
        raise TypeError(f"padding must be a bool tensor (True at padding), got "
                        f"{getattr(padding, 'dtype', type(padding).__name__)}")
    if padding.shape != tokens.shape:
        raise ValueError(f"padding has shape {tuple(padding.shape)}; expected the tokens' "
                         f"{tuple(tokens.shape)}")
    if bool((padding & (tokens.to(padding.device) == mask_id)).any()):
        raise ValueError(f"a padding position holds the mask id {mask_id}: padding is never "
                         f"generated, so it must hold another token (a pad id)")
    if padding.numel() and bool(padding.all(-1).any()):
        raise ValueError("padding covers a whole row: every row needs a real position")
    return padding


def warn_if_nothing_masked(tokens: torch.Tensor, mask_id: int) -> None:
    """Warn when no position of a non-empty batch holds `mask_id`: nothing will be generated,
    which is most often a prompt written with another model's mask id."""
    if tokens.numel() and not bool((tokens == mask_id).any()):
        warnings.warn(f"no position of tokens {tuple(tokens.shape)} holds the denoiser's mask_id "
                      f"{mask_id}: nothing will be generated (NFE 0). Were the masks written with "
                      f"another model's mask id?", stacklevel=3)


def _cell(index: torch.Tensor) -> str:
    b, i, *v = (int(j) for j in index)
    return f"sequence {b}, position {i}" + (f", token {v[0]}" if v else "")


def check_step_output(logits: torch.Tensor, masked: torch.Tensor, vocab_size: int, mask_id: int,
                      where: str = "the denoiser") -> None:
    """Refuse a denoiser output the loop cannot take a step from.

    logits: `[batch, length, vocab_size]` as the denoiser returned it; masked: `[batch, length]`
    bool, the positions still to generate. The mask column is ignored (the loop sets it to
    -inf): every other logit must be finite or -inf, and every masked position must keep at
    least one finite logit, i.e. a token that can be chosen.
    """
    expected = (*masked.shape, vocab_size)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != expected:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"{where} returned logits of shape {shape}; expected {expected} "
                         f"([batch, length, vocab_size] with vocab_size {vocab_size})")
    if not logits.is_floating_point():
        raise TypeError(f"{where} returned logits of dtype {logits.dtype}; expected floating point")
    # the best logit of each position over the columns but the mask's, from views (no copy of
    # the logits: with a large vocabulary they are the biggest tensor of the step); max
    # propagates NaN, so a NaN or +inf anywhere in a row shows in it
    parts = [p.amax(-1) for p in (logits[..., :mask_id], logits[..., mask_id + 1:]) if p.shape[-1]]
    if not parts:
        best = torch.full(masked.shape, float("-inf"), device=logits.device)
    else:
        best = torch.maximum(*parts) if len(parts) == 2 else parts[0]
    if not bool((~torch.isnan(best) & (best != float("inf"))).all()):
        _refuse_not_finite(logits, mask_id, where)
    stuck = masked & (best == float("-inf"))
    if stuck.any():
        raise ValueError(f"{where} left no token to choose at {int(stuck.sum())} masked "
                         f"position(s) (first: {_cell(torch.nonzero(stuck)[0])}): every logit "
                         f"but the mask column ({mask_id}) is -inf, so the position could never "
                         f"be filled")


def _refuse_not_finite(logits: torch.Tensor, mask_id: int, where: str) -> None:
    """Name the first NaN or +inf logit outside the mask column."""
    body = logits.detach().clone()
    body[..., mask_id] = 0.0
    for bad, what in ((torch.isnan(body), "NaN"), (body == float("inf"), "+inf")):
        if bad.any():
            raise ValueError(f"{where} returned {what} logits at {int(bad.sum())} cell(s) (first: "
                             f"{_cell(torch.nonzero(bad)[0])}); logits must be finite, or -inf "
                             f"for a token ruled out")
