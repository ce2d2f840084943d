"""GenMD4: masked diffusion with a learned, state-dependent masking schedule (Shi et al. 2024,
"Simplified and Generalized Masked Diffusion for Discrete Data", arXiv:2406.04329, section 5;
the authors' google-deepmind/md4, `md4/models/diffusion/genmd4.py`, read for this file).

Each token value x has its own schedule alpha_t(x) = 1 - (1 - eps) t^(w_x), with a learned power
w_x = softplus(param) > 0 (`MDMTransformer.masking_power()`, config `schedule: learned`): a value
with a large w stays unmasked longer in the forward process, so the reverse process writes it
early. With every w_x = 1 this is MD4's linear schedule and the loss below is MD4's.

The continuous-time negative ELBO for one sequence at time t, with z_t drawn from the forward
process (position i masked with probability (1 - eps) t^(w_(x_i))), is

    L(t, z_t) = -(1/t) sum_{i masked} [ w_(x_i) (log p_i(x_i) + 1) - sum_v w_v p_i(v) ]

(the reference's `dgamma_times_alpha = -w / t` times its integrand (log p(x) + 1) 1[v = x] -
p(v), summed over v), plus the reconstruction term at t1 (`reconstruction_loss`). The masking
distribution depends on w, so its gradient has a score-function part: the reference estimates
it with REINFORCE leave-one-out over two draws z1, z2 at the same t,

    0.5 * stopgrad(L1 - L2) * (log q(z1) - log q(z2)),

added to the surrogate loss 0.5 (L1 + L2). As in the reference's `time_features: none`, the
network is not told t (the project's transformer has no time input); t is drawn
low-discrepancy (antithetic) in [t1, 1].
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .objective import low_discrepancy_times


def masking_power(model) -> torch.Tensor | None:
    """The powers w `[vocab]` of a model trained with a learned schedule, or None for any other
    denoiser (a linear-schedule MDM, a Hugging Face model, a test's toy)."""
    return getattr(model, "masking_power", lambda: None)()


def check_schedule_model(model) -> torch.Tensor:
    """The model's powers w `[vocab]`; a clear error for a model without a learned schedule."""
    power = masking_power(model)
    if power is None:
        raise ValueError(f"objective=genmd4 trains a model with a learned masking schedule: "
                         f"configure the denoiser with schedule=learned "
                         f"(denoiser.schedule=learned), got {type(model).__name__} with "
                         f"schedule {getattr(getattr(model, 'config', None), 'schedule', None)!r}")
    return power


def mask_log_probs(w_x: torch.Tensor, t: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """log q(masked) and log q(unmasked) `[b, n]` of each position at times `t [b]`."""
    log_t = t.log()[:, None]
    log_masked = math.log1p(-eps) + w_x * log_t
    log_unmasked = torch.log1p(-torch.exp(log_masked))
    return log_masked, log_unmasked


def diffusion_loss(logits: torch.Tensor, x0: torch.Tensor, masked: torch.Tensor,
                   power: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """L(t, z_t) `[b]` summed over positions: logits `[b, n, V]` (mask logit -inf), masked `[b,
    n]` bool, power w `[V]`, t `[b]`."""
    log_p = torch.log_softmax(logits.float(), -1)
    p = log_p.exp()
    w_x = power[x0]
    log_p_x = log_p.gather(-1, x0[..., None]).squeeze(-1)
    expected_w = (p * power).sum(-1)                       # sum_v w_v p_i(v)
    integrand = w_x * (log_p_x + 1.0) - expected_w
    return -(integrand * masked).sum(1) / t


def reconstruction_loss(x0: torch.Tensor, power: torch.Tensor, t1: float, eps: float,
                        keep: torch.Tensor, real_tokens: torch.Tensor) -> torch.Tensor:
    """`[b]` the reference's `recon_loss`: the gap at the first step t1, where a still-masked
    token is known only through the schedule (p(v) proportional to t1^(w_v) over the real
    token values `real_tokens` `[V]` bool). keep: `[b, n]` the positions that may be masked."""
    log_t1 = math.log(t1)
    w_log = power * log_t1
    log_norm = torch.logsumexp(w_log.masked_fill(~real_tokens, float("-inf")), 0)
    w_x_log = w_log[x0]
    return (-(1 - eps) * w_x_log.exp() * (w_x_log - log_norm) * keep).sum(1)


class GenMD4Objective:
    """`objective=genmd4`: the GenMD4 negative ELBO per token, with the REINFORCE leave-one-out
    gradient for the schedule. Two forward passes per batch (the two draws z1, z2): at equal
    compute it takes half the plain objective's batch. Metrics: `nelbo` (the bound itself,
    nats per token, without the REINFORCE term), `power_min`, `power_mean`, `power_max`.
    `bound_metric`: the metric `train_denoiser` validates as val/loss (its plain MD4 loss
    would score the model under a schedule it was not trained with)."""

    bound_metric = "nelbo"

    def __init__(self, t1: float = 1e-3, eps: float = 1e-4):
        if not 0 < t1 < 1 or not 0 <= eps < 1:
            raise ValueError(f"genmd4 needs 0 < t1 < 1 and 0 <= eps < 1, got t1={t1!r}, eps={eps!r}")
        self.t1, self.eps = t1, eps

    def draw(self, model, x0, power, t, keep, generator):
        """One forward-process draw and its loss: (masked `[b, n]`, L `[b]`, log q `[b]`,
        logits)."""
        log_masked, log_unmasked = mask_log_probs(power[x0], t, self.eps)
        u = torch.rand(x0.shape, generator=generator).to(x0.device)
        masked = (u < log_masked.detach().exp()) & keep
        xt = torch.where(masked, torch.full_like(x0, model.mask_id), x0)
        logits = model(xt).logits
        loss = diffusion_loss(logits, x0, masked, power, t)
        log_q = (torch.where(masked, log_masked, log_unmasked) * keep).sum(1)
        return masked, loss, log_q, logits

    def surrogate(self, model, x0: torch.Tensor, t: torch.Tensor, keep: torch.Tensor,
                  generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """At times `t [b]`: (the surrogate whose gradient estimates the bound's, `[b]`; the
        diffusion part of the bound 0.5 (L1 + L2), `[b]`; draw-1 statistics)."""
        power = check_schedule_model(model)
        m1, loss1, log_q1, logits1 = self.draw(model, x0, power, t, keep, generator)
        _, loss2, log_q2, _ = self.draw(model, x0, power, t, keep, generator)
        diffusion = 0.5 * (loss1 + loss2)
        rloo = 0.5 * (loss1 - loss2).detach() * (log_q1 - log_q2)
        with torch.no_grad():
            correct = (logits1.argmax(-1) == x0) & m1
            acc = float(correct.sum() / m1.sum().clamp(min=1))
        return diffusion + rloo, diffusion, {"token_accuracy": acc}

    def __call__(self, model, x0: torch.Tensor, generator: torch.Generator,
                 maskable: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        power = check_schedule_model(model)
        b, n = x0.shape
        keep = torch.ones_like(x0, dtype=torch.bool) if maskable is None else maskable.bool()
        t = low_discrepancy_times(b, generator, eps=self.t1).to(x0.device)
        surrogate, diffusion, stats = self.surrogate(model, x0, t, keep, generator)
        real = torch.ones(power.shape[0], dtype=torch.bool, device=x0.device)
        real[model.mask_id] = False
        recon = reconstruction_loss(x0, power, self.t1, self.eps, keep, real)
        denom = keep.sum(1).clamp(min=1)
        nelbo = (diffusion + recon) / denom
        loss = ((surrogate + recon) / denom).mean()
        w = power.detach()[real]
        return loss, {"nelbo": float(nelbo.mean()), **stats, "t_mean": float(t.mean()),
                      "power_min": float(w.min()), "power_mean": float(w.mean()),
                      "power_max": float(w.max())}
