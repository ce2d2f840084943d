"""GenMD4's ancestral sampler: unmasking that follows a learned, per-token-value masking
schedule (Shi et al. 2024, arXiv:2406.04329, section 5; schedule alpha_t(x) = 1 - t^(w_x), the
powers w learned with the denoiser by `denoiser.genmd4.GenMD4Objective`).

Linear time grid t_j = 1 - j/T, j = 0..T. Grid step j goes from t = t_j to s = t_(j+1). The
forward process masks value v by time t with probability t^(w_v) (the eps of the training
schedule cancels here), so the reverse transition of a masked position, with the denoiser's
p_i(v) in place of the clean token, is

    p(x_s = v | x_t masked) = p_i(v) * (1 - (s/t)^(w_v)),     p(still masked) = the rest,

and a position unmasks with probability u_i = sum_v p_i(v) (1 - (s/t)^(w_v)), writing v with
probability proportional to p_i(v) (1 - (s/t)^(w_v)). Values with a larger w are written
earlier. With every w_v = 1 this is MD4's sampler (`policy=random`): u_i = 1 - s/t, the token
drawn from p_i. At s = 0 every masked position unmasks.

Caching, as in MD4: a grid step that reveals nothing leaves the state, hence p, unchanged, so
each `select` walks the row's grid steps on the same p until one reveals something (NFE <= T).
Tokens: at temperature 1 they are drawn from the reweighted distribution above; at temperature
0 (greedy) its argmax; another temperature divides its log by it. Which positions unmask is
always drawn (the schedule is a law, not a ranking).

The powers come from the denoiser (`masking_power()` of a model trained with
`schedule: learned`) unless the `power` knob gives them (one per token value).
"""
from __future__ import annotations

from typing import Any

import torch

from denoiser.genmd4 import masking_power

from ..context import StepContext
from ..policy import NEG_INF, Policy, Selection
from ..reveal import check_steps
from ..tokens import choose_tokens


def reverse_rates(probs: torch.Tensor, power: torch.Tensor, t: torch.Tensor, s: torch.Tensor
                  ) -> torch.Tensor:
    """`[b, n, V]` p_i(v) (1 - (s/t)^(w_v)) for rows at times t > s >= 0 `[b]`."""
    ratio = (s / t).double()[:, None, None]
    return probs.double() * (1 - ratio ** power.double()[None, None, :])


class GenMD4Sampler(Policy):
    """GenMD4 ancestral sampling on `steps` grid steps (at most that many denoiser calls)."""

    def __init__(self, steps: int = 81, power: list[float] | None = None):
        check_steps(steps, allow_none=False)
        self.steps = steps
        self.max_nfe = steps
        self.power = None if power is None else self._check_power(power, None)
        self._power = None if power is None else torch.tensor(self.power, dtype=torch.float64)

    @staticmethod
    def _check_power(power, vocab_size: int | None) -> list[float]:
        values = list(power) if hasattr(power, "__iter__") and not isinstance(power, str) else None
        if not values or any(isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0
                             or w != w or w == float("inf") for w in values):
            raise ValueError(f"power must be a list of positive finite numbers (one per token "
                             f"value), got {power!r}")
        if vocab_size is not None and len(values) != vocab_size:
            raise ValueError(f"power has {len(values)} entries; the denoiser has {vocab_size} "
                             f"token values")
        return [float(w) for w in values]

    def check_denoiser(self, denoiser) -> None:
        vocab = denoiser.vocab_size
        if self.power is not None:
            self._check_power(self.power, vocab)
            return
        model = getattr(denoiser, "model", denoiser)
        power = masking_power(model)
        if power is None:
            raise ValueError(f"policy genmd4 follows a learned masking schedule, and "
                             f"{type(model).__name__} has none (train one with "
                             f"objective=genmd4 denoiser.schedule=learned), or give the "
                             f"policy's power knob")
        self._power = power.detach().double().cpu()

    def init_state(self, initial_masked: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.zeros(initial_masked.shape[0], dtype=torch.long)   # each row's grid step

    def select(self, ctx: StepContext, state: Any) -> Selection:
        grid = state[ctx.rows.cpu()].clone()
        probs = ctx.probs.double().cpu()
        power = self._power
        masked = ctx.masked.cpu()
        batch, length, _ = probs.shape
        chosen = torch.zeros(batch, length, dtype=torch.bool)
        rates = torch.zeros_like(probs)
        pending = masked.any(-1)
        while bool(pending.any()):
            rows = torch.nonzero(pending).squeeze(1)
            t = 1 - grid[rows].double() / self.steps
            s = 1 - (grid[rows] + 1).double() / self.steps
            r = reverse_rates(probs[rows], power, t, s)
            unmask_p = r.sum(-1).clamp(0, 1)
            # the rows still walking their grid draw (per-row streams: the others stay put)
            u = ctx.rand(batch, length, dtype=torch.float64, where=pending).cpu()[rows]
            hit = (u < unmask_p) & masked[rows]
            last = grid[rows] + 1 >= self.steps
            hit |= last[:, None] & masked[rows]
            done = hit.any(-1)
            chosen[rows[done]] = hit[done]
            rates[rows[done]] = r[done]
            grid[rows] += 1
            pending[rows[done]] = False
        state[ctx.rows.cpu()] = grid
        tokens = self.tokens(rates, chosen, ctx)
        scores = rates.sum(-1).float().masked_fill(~masked, NEG_INF)
        return Selection(chosen.to(ctx.masked.device), scores.to(ctx.masked.device),
                         tokens=tokens.to(ctx.masked.device))

    @staticmethod
    def tokens(rates: torch.Tensor, chosen: torch.Tensor, ctx: StepContext) -> torch.Tensor:
        """The value written at each chosen position (-1 elsewhere): drawn from the reverse
        rates at the call's temperature (argmax at 0)."""
        drawn = choose_tokens(rates.clamp(min=0).log(), ctx.temperature, ctx.generator,
                              ctx.streams, ctx.rows)
        return torch.where(chosen, drawn.cpu(), -1)
