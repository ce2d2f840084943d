"""ReMDM: remasking diffusion (Wang et al. 2025, "Remasking Discrete Diffusion Models with
Inference-Time Scaling", arXiv:2503.00307; the authors' `diffusion.py`,
kuleshov-group/remdm@f830d65, `_ddpm_caching_update`).

MDLM's log-linear schedule, alpha_t = 1 - t, on the grid t_j = linspace(1, eps, T + 1). At grid
step j (t = t_j, s = t_(j+1)) every filled, non-given position is remasked with probability
sigma, and every masked one is unmasked with probability

    (alpha_s - (1 - sigma) alpha_t) / (1 - alpha_t),

its token drawn by the loop (greedy or at a temperature). The schedules of sigma:

- `cap`:     sigma = min(eta, (1 - alpha_s) / alpha_t)             (scripts: eta = 0.008)
- `rescale`: sigma = eta * min(1, (1 - alpha_s) / alpha_t)          (scripts: eta = 0.015)
- `conf`:    sigma_i = softmax_i(-p(token when unmasked)) * min(1, (1 - alpha_s) / alpha_t),
             over the filled positions (less confident tokens are remasked first)
- `loop`:    MDLM from t = 1 to t_on with alpha rising to alpha_on, then at fixed alpha_on
             remasking with sigma = eta (unmasking with sigma alpha_on / (1 - alpha_on)),
             then MDLM from t_off to 0 (scripts: t_on 0.55, t_off 0.05, alpha_on 0.9, eta 0.02)

Differences from the authors' code, both documented choices: (1) a filled position that is not
remasked keeps its token (their SUBS parameterisation makes p_x0 one-hot there, so this is what
their code does); (2) positions still masked after the last grid step are unmasked in that
step's call (the loop's `max_nfe`), where their `noise_removal` spends one more call: NFE = T.
"""
from __future__ import annotations

from typing import Any

import torch

from ..context import StepContext
from ..policy import Policy, Selection
from ..revision import check_count, check_number, check_schedule_bound, revisable

SCHEDULES = ("cap", "rescale", "conf", "loop")


class ReMDM(Policy):
    revises = True

    def __init__(self, steps: int = 128, schedule: str = "cap", eta: float = 0.008,
                 t_on: float = 0.55, t_off: float = 0.05, alpha_on: float = 0.9,
                 eps: float = 1e-5):
        self.steps = check_count(steps, "steps")
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
        self.schedule = schedule
        self.eta = check_number(eta, "eta", low=0.0, high=1.0)
        self.t_on = check_number(t_on, "t_on", low=0.0, high=1.0, open_low=True, open_high=True)
        self.t_off = check_number(t_off, "t_off", low=0.0, high=1.0, open_low=True, open_high=True)
        if schedule == "loop" and not self.t_off < self.t_on:
            raise ValueError(f"t_off ({t_off}) must be below t_on ({t_on})")
        self.alpha_on = check_number(alpha_on, "alpha_on", low=0.0, high=1.0,
                                     open_low=True, open_high=True)
        self.eps = check_number(eps, "eps", low=0.0, high=1.0, open_low=True, open_high=True)
        self.max_nfe = self.steps

    def check_max_nfe(self, max_nfe: int) -> None:
        check_schedule_bound(self, max_nfe)

    def init_state(self, initial_masked: torch.Tensor, generator) -> Any:
        # conf: -p(token) of each filled position when it was unmasked, -inf elsewhere;
        # prev: the previous call's probabilities, to read the probability of the drawn token
        return {"conf": torch.full(initial_masked.shape, float("-inf"), dtype=torch.float64),
                "prev": None}

    def _grid(self, step: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = 1.0 - step.double() * (1.0 - self.eps) / self.steps
        return t, t - (1.0 - self.eps) / self.steps

    def _rates(self, ctx: StepContext, state) -> tuple[torch.Tensor, torch.Tensor]:
        """Per position: the probability of unmasking (masked) and of remasking (filled)."""
        t, s = self._grid(ctx.step)
        t, s = t[:, None], s[:, None]
        shape = ctx.masked.shape
        if self.schedule == "loop":
            a_on = self.alpha_on
            ramp_up, ramp_down = t > self.t_on, t <= self.t_off
            mc_t = torch.where(ramp_up, 1 - (1 - t) * a_on / (1 - self.t_on),
                               t * (1 - a_on) / self.t_off)
            mc_s = torch.where(ramp_up, 1 - (1 - s) * a_on / (1 - self.t_on),
                               s * (1 - a_on) / self.t_off)
            mdlm = ramp_up | ramp_down
            unmask_mdlm = (mc_t - mc_s) / mc_t
            sigma = torch.full_like(t, self.eta)
            unmask_loop = sigma * a_on / (1 - a_on)
            unmask = torch.where(mdlm, unmask_mdlm, unmask_loop).expand(shape)
            remask = torch.where(mdlm, torch.zeros_like(sigma), sigma).expand(shape)
            return unmask, remask
        alpha_t, alpha_s = 1 - t, 1 - s
        ratio = torch.where(alpha_t > 0, (1 - alpha_s) / alpha_t.clamp(min=1e-300),
                            torch.ones_like(alpha_t))
        if self.schedule == "cap":
            sigma = torch.where(alpha_t > 0, ratio.clamp(max=self.eta), torch.full_like(t, self.eta))
        elif self.schedule == "rescale":
            sigma = self.eta * ratio.clamp(max=1.0)
        else:
            conf = state["conf"][ctx.rows].to(ctx.logits.device)
            weights = torch.softmax(conf.masked_fill(~revisable(ctx), float("-inf")), dim=-1)
            weights = torch.nan_to_num(weights, nan=0.0)           # rows with nothing filled
            sigma = weights * ratio.clamp(max=1.0)
        sigma = sigma.expand(shape)
        unmask = (alpha_s - (1 - sigma) * alpha_t) / (1 - alpha_t)
        return unmask.clamp(0.0, 1.0), sigma

    def _update_conf(self, ctx: StepContext, state) -> None:
        """Record -p(drawn token) for the positions the previous call unmasked (rows stay in
        the batch until the last grid step, so the previous call saw the same rows)."""
        if state["prev"] is None:
            return
        probs, newly, rows = state["prev"]
        if not torch.equal(rows, ctx.rows):
            return
        p = probs.gather(-1, ctx.tokens.clamp(min=0)[..., None]).squeeze(-1).double()
        rows_conf = state["conf"][ctx.rows]
        rows_conf[newly.cpu()] = -p[newly].cpu()
        state["conf"][ctx.rows] = rows_conf

    def select(self, ctx: StepContext, state) -> Selection:
        if self.schedule == "conf":
            self._update_conf(ctx, state)
        unmask_p, remask_p = self._rates(ctx, state)
        u = ctx.rand(*ctx.masked.shape).double()
        chosen = ctx.masked & (u < unmask_p)
        remask = revisable(ctx) & (u < remask_p)
        if self.schedule == "conf":
            conf = state["conf"]
            rows_conf = conf[ctx.rows]
            rows_conf[remask.cpu()] = float("-inf")
            conf[ctx.rows] = rows_conf
            state["prev"] = (ctx.probs, chosen, ctx.rows)
        revisit = ctx.step + 1 < self.steps
        return Selection(chosen, scores=unmask_p.float(), remask=remask, revisit=revisit)
