"""Test oracles: minimal transcriptions of the remasking rules as their authors' code runs
them, written for these tests from the papers and the public code (cited per function).
Each takes plain tensors and returns what the reference would do at one step."""
from __future__ import annotations

import torch


def remdm_step_probs(schedule: str, t: float, dt: float, eta: float, filled: torch.Tensor,
                     conf: torch.Tensor | None = None, t_on: float = 0.55, t_off: float = 0.05,
                     alpha_on: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """kuleshov-group/remdm@f830d65 `diffusion.py::_ddpm_caching_update`, log-linear noise
    (move_chance = t): per position, the probability that a masked one leaves the mask and
    that a filled one goes back to it (q_xs_2 and q_xs's mask entries)."""
    mc_t, mc_s = t, t - dt
    if schedule == "loop":
        if t > t_on or t <= t_off:
            if t > t_on:
                mc_t = 1 - (1 - t) * alpha_on / (1 - t_on)
                mc_s = 1 - (1 - t + dt) * alpha_on / (1 - t_on)
            else:
                mc_t = t * (1 - alpha_on) / t_off
                mc_s = (t - dt) * (1 - alpha_on) / t_off
            stay_masked = mc_s / mc_t          # MDLM: q_xs[mask] = move_chance_s, normalised
            unmask = torch.full(filled.shape, 1 - stay_masked, dtype=torch.float64)
            return unmask, torch.zeros(filled.shape, dtype=torch.float64)
        sigma = eta
        mask_prob = (1 - alpha_on - alpha_on * sigma) / (1 - alpha_on)
        unmask = torch.full(filled.shape, 1 - mask_prob, dtype=torch.float64)
        return unmask, torch.full(filled.shape, sigma, dtype=torch.float64)
    alpha_t, alpha_s = 1 - mc_t, 1 - mc_s
    if schedule == "cap":
        sigma = min(eta, (1 - alpha_s) / alpha_t) if alpha_t > 0 else eta
        sigma = torch.full(filled.shape, sigma, dtype=torch.float64)
    elif schedule == "rescale":
        sigma_max = min(1, (1 - alpha_s) / alpha_t) if alpha_t > 0 else 1
        sigma = torch.full(filled.shape, eta * sigma_max, dtype=torch.float64)
    else:  # conf
        sigma_max = min(1, (1 - alpha_s) / alpha_t) if alpha_t > 0 else 1
        weights = conf.double().softmax(-1)
        weights[~filled] = 0
        sigma = weights * sigma_max
    mask_prob = (1 - alpha_s - sigma * alpha_t) / (1 - alpha_t)
    return 1 - mask_prob, sigma


def p2_step(logits: torch.Tensor, xt: torch.Tensor, fix_mask: torch.Tensor, mask_id: int,
            i: int, num_steps: int, eta: float) -> torch.Tensor:
    """pengzhangzhi/Path-Planning@68675ea `src/path_planning/p2.py::p2_sampling`, one
    iteration at tau = 0 with the linear kappa and the logP score: returns the new xt
    (x0 written where the reference writes it; the caller substitutes the drawn tokens)."""
    xt = xt.clone()
    kappa_t = i / num_steps
    last_mask = xt == mask_id
    unmask_t = ~last_mask & ~fix_mask
    logp_all = logits.double().log_softmax(-1)
    x0 = logp_all.argmax(-1)
    score = logp_all.gather(-1, x0[..., None]).squeeze(-1)
    score = score.masked_fill(fix_mask, float("inf"))
    score[unmask_t] = score[unmask_t] * eta
    num_to_mask = ((~fix_mask).sum(1, keepdim=True).float() * (1 - kappa_t)).long()
    cutoff = score.sort(-1)[0].gather(-1, num_to_mask)
    lowest = score < cutoff
    xt[lowest] = mask_id
    fill = last_mask & ~lowest
    xt[fill] = x0[fill]
    return xt


def block_refinement_step(logits: torch.Tensor, sample: torch.Tensor, mask_id: int,
                          num_to_transfer: int, threshold: float,
                          editing_threshold: float | None, prompt: torch.Tensor) -> tuple:
    """huggingface/diffusers@125342c `schedulers/scheduling_block_refinement.py`,
    `BlockRefinementScheduler.step` at temperature 0 (greedy): (transfer, edit, tokens)."""
    probs = torch.softmax(logits.float(), -1)
    token = logits.argmax(-1)
    token_prob = probs.gather(-1, token[..., None]).squeeze(-1)
    active = sample == mask_id
    transfer = torch.zeros_like(active)
    if active.any():
        conf = torch.where(active, token_prob, torch.full_like(token_prob, -torch.inf))
        for b in range(sample.shape[0]):
            high = conf[b] > threshold
            if high.sum() >= num_to_transfer:
                transfer[b] = high
            else:
                k = min(num_to_transfer, int(active[b].sum()))
                if k > 0:
                    transfer[b, torch.topk(conf[b], k=k).indices] = True
    edit = torch.zeros_like(active)
    if editing_threshold is not None and editing_threshold > 0:
        editable = ~active & ~prompt
        econf = torch.where(editable, token_prob, torch.full_like(token_prob, -torch.inf))
        edit = (econf > editing_threshold) & (token != sample) & editable
    return transfer, edit, token
