"""The masked-diffusion training objective (MDLM / MD4 / LLaDA).

With the linear schedule alpha_t = 1 - t, the continuous-time negative ELBO is
    E_{t ~ U(0,1)} E_{x_t} [ (1/t) * sum_{i masked} -log p(x_i | x_t) ].
`t` is drawn with low-discrepancy (stratified) sampling across the batch, which lowers the
variance of the estimate at no cost.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def low_discrepancy_times(batch: int, generator: torch.Generator, eps: float = 1e-3) -> torch.Tensor:
    """`[batch]` times in [eps, 1]: one uniform offset, then evenly spaced (mod 1)."""
    u = torch.rand(1, generator=generator)
    t = (u + torch.arange(batch) / batch) % 1.0
    return eps + (1 - eps) * t


def masked_diffusion_loss(model, x0: torch.Tensor, generator: torch.Generator,
                          maskable: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
    """Negative ELBO per token for clean sequences `x0 [batch, length]`.

    maskable: `[batch, length]` bool, positions that may be masked (prompts stay clean);
    all by default. Returns the loss and metrics (masked-token accuracy, mean t).
    """
    b, n = x0.shape
    t = low_discrepancy_times(b, generator).to(x0.device)
    masked = torch.rand(b, n, generator=generator).to(x0.device) < t[:, None]
    if maskable is not None:
        masked &= maskable
    xt = torch.where(masked, torch.full_like(x0, model.mask_id), x0)
    logits = model(xt).logits
    ce = F.cross_entropy(logits.float().transpose(1, 2), x0, reduction="none")  # [b, n]
    per_seq = (ce * masked).sum(1) / t
    denom = maskable.sum(1).clamp(min=1) if maskable is not None else torch.full((b,), n, device=x0.device)
    loss = (per_seq / denom).mean()
    with torch.no_grad():
        correct = (logits.argmax(-1) == x0) & masked
        acc = correct.sum() / masked.sum().clamp(min=1)
    return loss, {"token_accuracy": float(acc), "t_mean": float(t.mean())}


class MaskedDiffusionObjective:
    """`masked_diffusion_loss` as a config-selectable objective (`objective=masked`, the
    default of `experiments.train_denoiser`); `denoiser.verify_objective` has the other."""

    def __call__(self, model, x0: torch.Tensor, generator: torch.Generator,
                 maskable: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        return masked_diffusion_loss(model, x0, generator, maskable)
