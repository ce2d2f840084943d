"""The log-likelihood of clean sequences along a policy's unmasking order, by teacher forcing.

Where `planner.sample()` writes the denoiser's own draws, this loop writes the *true* tokens at
the positions the policy chooses, and adds up what the denoiser gave them:

    log L(x; policy) = sum_k sum_{i in r_k} log p_D(x_i | x^(k-1)),   x^(k) = x on r_1..r_k.

For a policy whose choice is a function of the state (top-k margin, ...) this is the exact
log-probability the sampler with that policy assigns to x. For a random order it is one draw of
the ELBO of docs/design.md section 3 without the planner terms; its expectation over the uniformly random order
with one position per step (`random_k`) is the MDLM / MD4 bound, which the continuous-time
objective in `denoiser/objective.py` estimates by Monte Carlo (Sahoo et al. 2024,
arXiv:2406.07524; Shi et al. 2024, arXiv:2406.04329). A learned planner's order goes through
the same function.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from denoiser.base import check_tokens

from .checks import check_generator, check_step_output
from .context import StepContext
from .sampling import _as_frozen, _as_policy


@dataclass
class OrderLikelihood:
    log_likelihood: torch.Tensor   # [batch] float64, nats, summed over the generated positions
    n_generated: torch.Tensor      # [batch] long, how many positions were generated
    nfe: torch.Tensor              # [batch] long, steps the order took


@torch.no_grad()
def order_log_likelihood(denoiser, policy, x: torch.Tensor, generate: torch.Tensor, *,
                         generator: torch.Generator | None = None) -> OrderLikelihood:
    """Teacher-forced log-likelihood of clean `x` `[batch, length]` at the positions
    `generate` `[batch, length]` bool (the rest is given), along `policy`'s order.

    generator: a CPU torch.Generator for random policies (same seed, same order).
    """
    generator = check_generator(generator)
    frozen = _as_frozen(denoiser)
    policy = _as_policy(policy)
    check_tokens(x, frozen.vocab_size, frozen.max_length, frozen.mask_id)
    if generate.shape != x.shape or generate.dtype != torch.bool:
        raise ValueError(f"generate must be a bool tensor of x's shape {tuple(x.shape)}, got "
                         f"{generate.dtype} {tuple(generate.shape)}")
    if (x == frozen.mask_id).any():
        raise ValueError(f"x must be clean sequences: it holds the mask id {frozen.mask_id}")
    policy.check_denoiser(frozen)

    truth = x.to(frozen.device, dtype=torch.long)
    generate = generate.to(frozen.device)
    state_tokens = truth.masked_fill(generate, frozen.mask_id)
    batch = truth.shape[0]
    loglik = torch.zeros(batch, dtype=torch.float64, device=truth.device)
    nfe = torch.zeros(batch, dtype=torch.long, device=truth.device)
    state = policy.init_state(generate, generator)
    active = torch.nonzero(generate.any(-1)).squeeze(1)
    while active.numel():
        xa = state_tokens[active]
        out = frozen(xa, return_hidden=policy.needs_hidden)
        logits = out.logits
        check_step_output(logits, xa == frozen.mask_id, frozen.vocab_size, frozen.mask_id,
                          where=f"the denoiser ({type(frozen.model).__name__}) at step {int(nfe.max())}")
        logits[..., frozen.mask_id] = float("-inf")
        masked = xa == frozen.mask_id
        ctx = StepContext(logits=logits, tokens=xa, masked=masked, initial_masked=generate[active],
                          step=nfe[active], rows=active, hidden=out.hidden, generator=generator)
        chosen = policy.select(ctx, state).chosen
        empty = not policy.allows_empty_steps and not chosen.any(-1).all()
        if chosen.shape != masked.shape or (chosen & ~masked).any() or empty:
            raise RuntimeError(f"{policy!r} returned an invalid selection (a non-masked position, "
                               f"an empty set, or the wrong shape {tuple(chosen.shape)})")
        logp = torch.log_softmax(logits.double(), -1).gather(-1, truth[active][..., None])[..., 0]
        loglik[active] += (logp * chosen).sum(-1)
        xa = torch.where(chosen, truth[active], xa)
        state_tokens[active] = xa
        nfe[active] += 1
        active = active[(xa == frozen.mask_id).any(-1)]
    return OrderLikelihood(loglik.cpu(), generate.sum(-1).cpu(), nfe.cpu())
