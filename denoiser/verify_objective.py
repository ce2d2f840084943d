"""A masked-diffusion objective that also trains the outputs at filled positions, so that the
denoiser scores the tokens a sampler has committed (docs/design.md, "Remasking").

The masked objective never trains p_i(. | x) at an unmasked position: a model trained by it
may copy its input there, and then no verifier can read a wrong commit off it. Here part of
each batch is put in the states a sampler reaches: after masking x0 at time t, the model
itself (no gradient, one extra forward pass) fills its most confident masked positions (a
random share of them, as a confidence-ordered sampler commits) with tokens drawn from its own
predictive distribution at `temperature`: the plausible, confident mistakes a sampler makes,
not uniform noise (BERT's 80/10/10 replaces with uniform tokens).
The loss is then

    masked term  : the MDLM term at the positions still masked (1/t weighting, as
                   `masked_diffusion_loss`, per maskable position),
    filled term  : `filled_weight` * mean cross-entropy of x0 at the self-filled positions
                   (right and wrong alike: it learns to keep a right token and to name the
                   true one where the filled token is wrong).

The rows left clean (a share `1 - corrupt_share`) are the plain masked objective, so the
model keeps its NLL bound on clean states. With `corrupt_share=0` the loss is exactly
`masked_diffusion_loss` (a test).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .objective import low_discrepancy_times, masked_diffusion_loss


@dataclass
class SelfCorrectionObjective:
    """corrupt_share: the share of rows whose masked positions are partly self-filled.
    fill_max: each corrupted row fills a share u ~ U(0, fill_max) of its masked positions,
        the most confident ones.
    temperature: of the model's draws (1: its own distribution; lower: its likelier mistakes).
    filled_weight: the weight of the filled term.
    corrupt_max_t: only rows with t <= this are corrupted. A state masked further does not
        determine x0 (a near-empty Sudoku grid has many completions), so a draw that differs
        from x0 there is not a mistake; a sampler's states start from a prompt (a puzzle has
        at least 17 of 81 givens: t <= 0.79)."""

    corrupt_share: float = 0.5
    fill_max: float = 0.5
    temperature: float = 1.0
    filled_weight: float = 1.0
    corrupt_max_t: float = 0.8

    def __post_init__(self):
        for name, low, high in (("corrupt_share", 0.0, 1.0), ("fill_max", 0.0, 1.0),
                                ("corrupt_max_t", 0.0, 1.0)):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {value!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not self.filled_weight >= 0:
            raise ValueError(f"filled_weight must be >= 0, got {self.filled_weight!r}")

    def __call__(self, model, x0: torch.Tensor, generator: torch.Generator,
                 maskable: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        if self.corrupt_share == 0.0:
            return masked_diffusion_loss(model, x0, generator, maskable)
        b, n = x0.shape
        device = x0.device
        t = low_discrepancy_times(b, generator).to(device)
        masked = torch.rand(b, n, generator=generator).to(device) < t[:, None]
        if maskable is not None:
            masked &= maskable
        xt = torch.where(masked, torch.full_like(x0, model.mask_id), x0)
        corrupt = ((torch.rand(b, generator=generator).to(device) < self.corrupt_share)
                   & (t <= self.corrupt_max_t))
        share = torch.rand(b, generator=generator).to(device) * self.fill_max
        n_fill = (share * masked.sum(1)).floor().long() * corrupt
        fill = torch.zeros_like(masked)
        if bool(n_fill.any()):
            was_training = model.training
            model.eval()
            with torch.no_grad():
                logits = model(xt).logits.float()
            model.train(was_training)
            logits[..., model.mask_id] = float("-inf")
            confidence = torch.softmax(logits, -1).amax(-1).masked_fill(~masked, -1.0)
            rank = confidence.argsort(dim=-1, descending=True, stable=True).argsort(dim=-1, stable=True)
            fill = masked & (rank < n_fill[:, None])
            u = torch.rand(logits.shape, generator=generator).to(device).clamp(1e-20, 1.0)
            drawn = (logits / self.temperature - torch.log(-torch.log(u))).argmax(-1)
            xt = torch.where(fill, drawn, xt)
        still = masked & ~fill
        out = model(xt).logits
        ce = F.cross_entropy(out.float().transpose(1, 2), x0, reduction="none")  # [b, n]
        denom = (maskable.sum(1).clamp(min=1) if maskable is not None
                 else torch.full((b,), n, device=device))
        masked_term = ((ce * still).sum(1) / t / denom).mean()
        n_fill = fill.sum()
        filled_term = (ce * fill).sum() / n_fill.clamp(min=1)
        loss = masked_term + self.filled_weight * filled_term
        with torch.no_grad():
            argmax = out.argmax(-1)
            acc = ((argmax == x0) & still).sum() / still.sum().clamp(min=1)
            wrong = fill & (xt != x0)
            caught = ((argmax == x0) & wrong).sum() / wrong.sum().clamp(min=1)
        return loss, {"token_accuracy": float(acc), "filled_loss": float(filled_term.detach()),
                      "wrong_fill_share": float(wrong.sum() / n_fill.clamp(min=1)),
                      "wrong_fill_fixed": float(caught), "t_mean": float(t.mean())}
