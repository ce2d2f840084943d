"""Reductions over ragged groups ("segments") of a flat vector, with an optional torch-scatter backend.

The subset distribution of the learned planner (docs/design.md section 3) lives on the still-masked
positions of each sequence, and their number differs from sequence to sequence. Rather than pad
to `[batch, length]` and mask, the masked positions of a batch can be flattened into one vector
`values [N]` with `segment_ids [N]` saying which sequence each belongs to; a per-sequence
quantity is then a reduction over a segment, e.g. `log Z = log(1 - prod_j (1 - p_j))` is
`segment_log1mexp_sum(log1p(-p), ids, batch)`.

Two interchangeable backends compute the same numbers and the same gradients:
- "torch" (the default): `Tensor.index_add` and `Tensor.scatter_reduce`, nothing to install;
- "scatter": `torch_scatter.scatter_add` / `scatter_max` (`pip install .[scatter]`), imported only
  when asked for.
`backend=None` uses `DEFAULT_BACKEND`, read once from the environment variable
`MDM_SEGMENT_BACKEND` (unset: "torch").

Empty segments are allowed and have fixed values: sum 0, max -inf, logsumexp -inf,
log1mexp_sum -inf (an empty set has no non-empty subset: Z = 0).

Where the backends' gradients differ (only in corner cases): `segment_max` splits the gradient
evenly among tied maxima under "torch" and gives it all to one of them under "scatter"; a
segment whose values are all -inf gets gradient under "torch" and none under "scatter".
"""
from __future__ import annotations

import math
import os

import torch

BACKENDS = ("torch", "scatter")
DEFAULT_BACKEND = os.environ.get("MDM_SEGMENT_BACKEND", "torch")

_LN2 = math.log(2.0)


def _resolve_backend(backend: str | None) -> str:
    name = DEFAULT_BACKEND if backend is None else backend
    if name not in BACKENDS:
        origin = ("the default segment backend (environment variable MDM_SEGMENT_BACKEND)"
                  if backend is None else "backend")
        raise ValueError(f"{origin} is {name!r}; expected one of {BACKENDS}")
    return name


def _torch_scatter():
    try:
        import torch_scatter
    except ImportError as err:
        raise ImportError("segment backend 'scatter' needs the optional package torch-scatter, "
                          "which is not importable here: install it (pip install '.[scatter]') "
                          "or use backend='torch'") from err
    return torch_scatter


def _check(values: torch.Tensor, segment_ids: torch.Tensor, num_segments: int) -> None:
    if not isinstance(values, torch.Tensor) or not values.is_floating_point():
        raise TypeError(f"values must be a floating-point tensor, got "
                        f"{getattr(values, 'dtype', type(values).__name__)}")
    if values.dim() != 1:
        raise ValueError(f"values must be 1-D [N], got shape {tuple(values.shape)}")
    if not isinstance(segment_ids, torch.Tensor) or segment_ids.dtype != torch.int64:
        raise TypeError(f"segment_ids must be an int64 tensor, got "
                        f"{getattr(segment_ids, 'dtype', type(segment_ids).__name__)}")
    if segment_ids.shape != values.shape:
        raise ValueError(f"segment_ids has shape {tuple(segment_ids.shape)}, values has "
                         f"{tuple(values.shape)}: they must match")
    if segment_ids.device != values.device:
        raise ValueError(f"segment_ids is on {segment_ids.device}, values on {values.device}")
    if isinstance(num_segments, bool) or not isinstance(num_segments, int) or num_segments < 0:
        raise ValueError(f"num_segments must be an integer >= 0, got {num_segments!r}")
    if segment_ids.numel():
        lo, hi = int(segment_ids.min()), int(segment_ids.max())
        if lo < 0 or hi >= num_segments:
            bad = lo if lo < 0 else hi
            raise ValueError(f"segment id {bad} is outside [0, {num_segments})")


def segment_sum(values: torch.Tensor, segment_ids: torch.Tensor, num_segments: int,
                backend: str | None = None) -> torch.Tensor:
    """Sum of `values [N]` within each segment -> `[num_segments]`; 0 for an empty segment."""
    _check(values, segment_ids, num_segments)
    if _resolve_backend(backend) == "scatter":
        return _torch_scatter().scatter_add(values, segment_ids, dim=0, dim_size=num_segments)
    return values.new_zeros(num_segments).index_add(0, segment_ids, values)


def segment_max(values: torch.Tensor, segment_ids: torch.Tensor, num_segments: int,
                backend: str | None = None) -> torch.Tensor:
    """Maximum of `values [N]` within each segment -> `[num_segments]`; -inf for an empty one."""
    _check(values, segment_ids, num_segments)
    if _resolve_backend(backend) == "scatter":
        out, arg = _torch_scatter().scatter_max(values, segment_ids, dim=0, dim_size=num_segments)
        # torch_scatter writes 0 (with argmax N) where no value beat the dtype's lowest finite
        # number: an empty segment, or one whose values are all -inf. Both have max -inf.
        return out.masked_fill(arg == values.numel(), float("-inf"))
    start = values.new_full((num_segments,), float("-inf"))
    return start.scatter_reduce(0, segment_ids, values, reduce="amax", include_self=True)


def segment_logsumexp(values: torch.Tensor, segment_ids: torch.Tensor, num_segments: int,
                      backend: str | None = None) -> torch.Tensor:
    """`log sum_i exp(values_i)` within each segment -> `[num_segments]`; -inf for an empty one.

    Stable: each segment is shifted by its (detached) maximum before exponentiating.
    """
    m = segment_max(values, segment_ids, num_segments, backend).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))   # empty or all -inf: shift 0
    s = segment_sum(torch.exp(values - m[segment_ids]), segment_ids, num_segments, backend)
    positive = s > 0
    # log of a zero sum is -inf; keep log() off it so that no 0 * inf = nan reaches the inputs
    log_s = torch.log(torch.where(positive, s, torch.ones_like(s)))
    return torch.where(positive, log_s + m, torch.full_like(s, float("-inf")))


def log1mexp(x: torch.Tensor) -> torch.Tensor:
    """`log(1 - exp(x))` for `x <= 0`, accurate at both ends (Maechler 2012, "Accurately
    computing log(1 - exp(-|a|))"): `log(-expm1(x))` near 0, `log1p(-exp(x))` below -ln 2.
    `log1mexp(0) = -inf`; `x > 0` gives nan."""
    near = x > -_LN2
    # each branch sees only inputs where it is finite, so where() passes no nan gradient back
    a = torch.log(-torch.expm1(torch.where(near, x, torch.full_like(x, -_LN2))))
    b = torch.log1p(-torch.exp(torch.where(near, torch.full_like(x, -_LN2), x)))
    return torch.where(near, a, b)


def segment_log1mexp_sum(log_values: torch.Tensor, segment_ids: torch.Tensor, num_segments: int,
                         backend: str | None = None) -> torch.Tensor:
    """`log(1 - prod_i exp(log_values_i))` within each segment -> `[num_segments]`.

    With `log_values = log(1 - p)` this is `log Z = log(1 - prod_j (1 - p_j))`, the log
    normaliser of the non-empty independent-Bernoulli subset distribution; -inf for an empty
    segment (and for a segment whose p are all 0). `log_values` must be <= 0.
    """
    return log1mexp(segment_sum(log_values, segment_ids, num_segments, backend))


def segment_ids_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """For a bool mask `[batch, length]`, the row of each True entry -> `[N]` long, in the order
    of `x[mask]`, so that `segment_sum(x[mask], segment_ids_from_mask(mask), batch)` sums each
    row's selected entries."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.dim() != 2:
        raise ValueError(f"mask must be a bool tensor [batch, length], got "
                         f"{getattr(mask, 'dtype', type(mask).__name__)} "
                         f"{tuple(getattr(mask, 'shape', ()))}")
    return torch.nonzero(mask)[:, 0]
