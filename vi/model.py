"""The variational order model as two Pyro programs (docs/design.md section 3).

Generative model (the prior P_theta), for a batch of clean sequences x with masked set M0:

    for k = 1, 2, ... until nothing is masked:
        price_k  : factor -beta                                      (one denoiser call)
        r_k      ~ P_theta(r | x^(k-1))                              BernoulliSubset, latent
        x_k      : observe x on r_k, log-likelihood sum_{i in r_k} log p_D(x_i | x^(k-1))

Guide (the posterior Q_phi): the same loop with r_k ~ Q_phi(r | x^(k-1), x), and, when
`entropy_weight > 0`, an entropy bonus factor on Q per step. Under both programs the state
x^(k-1) is the clean x revealed on r_1 ... r_(k-1), so

    E_Q[log p(x, r) - log q(r)] = J(x) = ELBO(x) - beta * E_Q[K]      (+ the entropy bonus).

Ragged batches: a sequence that is complete stops. Both programs loop until every row is
complete; a finished row's sites are masked out with `poutine.mask` (its subset distribution
is then the point mass on the empty set, so the masked values are finite anyway).

Annealing (Pyro's DMM example): `kl_scale` multiplies log P_theta(r_k) and log Q_phi(r_k)
through `poutine.scale`; `entropy_weight` sets the bonus w * H(Q_phi(. | x^(k-1), x)). The
objective every estimator here targets is then

    J_a(x) = E_Q[ sum_k ( sum_{i in r_k} log p_D(x_i | x^(k-1)) - beta
                          + kl_scale * (log P_theta(r_k | .) - log Q_phi(r_k | .))
                          + entropy_weight * H(Q_phi(. | x^(k-1), x)) ) ].

(`TraceGraph_ELBO` also scales the score function of a scaled site, Pyro's subsampling
semantics, so it follows J_a's gradient only at kl_scale = 1; `RaoBlackwellLOO_ELBO`
follows it at every kl_scale.)

The guide runs first in every Pyro estimator, then the model is replayed on its draws and
visits the same states. The denoiser's summary of each state is cached by the guide, so a
(guide, model) pair costs K denoiser calls per sequence, not 2K.
"""
from __future__ import annotations

import pyro
import torch
from pyro import poutine
from pyro.distributions import TorchDistribution
from torch import nn
from torch.distributions import constraints

from denoiser.base import Denoiser, FrozenDenoiser

from .features import DenoiserSummary, OrderState, true_log_prob
from .networks import PosteriorNet, PriorNet


class RevealLikelihood(TorchDistribution):
    """The likelihood of the clean tokens revealed at one step, at the observed tokens only:

        log_prob(x) = sum_{i in reveal} log p_D(x_i | x^(k-1)).

    position_log_prob: `[batch, length]` log p_D(x_i | x^(k-1)) of the observed x_i at every
        position (estimators use all of it: E_Q[sum_{i in r} l_i] = sum_i Q(i in r) l_i)
    reveal: `[batch, length]` bool, r_k
    observed: `[batch, length]` long, x. `log_prob` of any other value is an error: the
        frozen denoiser's full distribution is not kept (only per-position summaries are).
    """

    arg_constraints = {}
    support = constraints.independent(constraints.nonnegative_integer, 1)

    def __init__(self, position_log_prob: torch.Tensor, reveal: torch.Tensor,
                 observed: torch.Tensor, validate_args: bool | None = None):
        if not (position_log_prob.shape == reveal.shape == observed.shape):
            raise ValueError(f"shapes differ: position_log_prob {tuple(position_log_prob.shape)}, "
                             f"reveal {tuple(reveal.shape)}, observed {tuple(observed.shape)}")
        self.position_log_prob = position_log_prob
        self.reveal, self.observed = reveal.bool(), observed
        super().__init__(reveal.shape[:-1], reveal.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        shape = torch.Size(batch_shape) + self.event_shape
        return RevealLikelihood(self.position_log_prob.expand(shape), self.reveal.expand(shape),
                                self.observed.expand(shape))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if value.shape != self.observed.shape or not torch.equal(value, self.observed):
            raise ValueError("RevealLikelihood is evaluated only at the observed tokens")
        lp = torch.where(self.reveal, self.position_log_prob,
                         torch.zeros_like(self.position_log_prob))
        return lp.sum(-1)

    def sample(self, sample_shape=torch.Size()):
        raise NotImplementedError("RevealLikelihood is an observation: it has no sampler")


class OrderModel(nn.Module):
    """Owns the prior and posterior networks and the frozen denoiser; exposes `model` and
    `guide` with the same signature (the Pyro DMM pattern).

    denoiser: the frozen MDM (a Denoiser is wrapped in FrozenDenoiser; its weights never
        train: they are not parameters of this module).
    prior, posterior: the planner networks.
    baseline: the `infer["baseline"]` options put on the guide's step sites for
        `TraceGraph_ELBO`, e.g. {"use_decaying_avg_baseline": True}; None for none.

    Use `pyro.clear_param_store()` before building the SVI of a fresh OrderModel:
    `pyro.module` would otherwise load same-named parameters from the store.
    """

    def __init__(self, denoiser: Denoiser | FrozenDenoiser, prior: PriorNet,
                 posterior: PosteriorNet, *, baseline: dict | None = None):
        super().__init__()
        if not isinstance(denoiser, FrozenDenoiser):
            denoiser = FrozenDenoiser(denoiser)
        self.denoiser = denoiser
        for net, name in ((prior, "prior"), (posterior, "posterior")):
            if net.vocab_size != self.denoiser.vocab_size:
                raise ValueError(f"{name} vocab_size {net.vocab_size} != the denoiser's "
                                 f"{self.denoiser.vocab_size}")
        self.prior, self.posterior = prior, posterior
        self.baseline = baseline
        self._cache: dict[int, tuple] = {}

    @property
    def mask_id(self) -> int:
        return self.denoiser.mask_id

    # --------------------------------------------------------------------- one state
    def state(self, x: torch.Tensor, masked: torch.Tensor, initial_masked: torch.Tensor,
              beta: torch.Tensor, *, step: int | None = None, remember: bool = False
              ) -> OrderState:
        """The state x^(k-1): x `[batch, length]` revealed off `masked` `[batch, length]`.

        Calls the frozen denoiser once (or reuses the summary cached for `step` when its
        tokens match exactly; `remember=True` stores it there)."""
        tokens = torch.where(masked, torch.full_like(x, self.mask_id), x)
        cached = self._cache.get(step) if step is not None else None
        if (cached is not None and cached[0].shape == tokens.shape
                and torch.equal(cached[0], tokens) and torch.equal(cached[1], x)):
            summary, true_lp = cached[2], cached[3]
        else:
            summary, true_lp = self._denoise(tokens, x, masked.any(-1))
            if remember and step is not None:
                self._cache[step] = (tokens, x, summary, true_lp)
        return OrderState(tokens=tokens, masked=masked, initial_masked=initial_masked,
                          denoised=summary, beta=beta, true_log_prob=true_lp)

    def _denoise(self, tokens: torch.Tensor, x: torch.Tensor, active: torch.Tensor
                 ) -> tuple[DenoiserSummary, torch.Tensor]:
        """Call the denoiser on the active rows only (finished sequences cost nothing); the
        finished rows' entries are zeros, which no network or estimator reads."""
        rows = torch.nonzero(active).squeeze(1)
        if rows.numel() == 0:  # nothing left anywhere (not reached by the programs)
            rows = torch.arange(tokens.shape[0], device=tokens.device)
        need_hidden = self.prior.uses_hidden or self.posterior.uses_hidden
        need_probs = self.prior.reads_probs or self.posterior.reads_probs
        out = self.denoiser(tokens[rows], return_hidden=need_hidden)
        logits = out.logits
        logits[..., self.mask_id] = float("-inf")  # adapters may score the mask token
        summary = DenoiserSummary.from_logits(logits, out.hidden)
        true_lp = true_log_prob(logits, x[rows])
        if rows.numel() == tokens.shape[0]:
            return summary, true_lp

        def full(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            out = t.new_zeros((tokens.shape[0],) + tuple(t.shape[1:]))
            out[rows] = t
            return out

        return DenoiserSummary(confidence=full(summary.confidence), margin=full(summary.margin),
                               entropy=full(summary.entropy), argmax=full(summary.argmax),
                               hidden=full(summary.hidden),
                               probs=full(summary.probs) if need_probs else None), full(true_lp)

    def _prepare(self, x, masked, initial_masked, beta):
        if x.dim() != 2 or masked.shape != x.shape or masked.dtype != torch.bool:
            raise ValueError(f"x must be [batch, length] token ids and masked a bool mask of the "
                             f"same shape; got x {tuple(x.shape)}, masked {tuple(masked.shape)} "
                             f"{masked.dtype}")
        if (x == self.mask_id).any():
            raise ValueError(f"x holds the mask token {self.mask_id}; x must be the clean sequence")
        initial_masked = masked if initial_masked is None else initial_masked
        beta = torch.as_tensor(beta, dtype=torch.float32, device=x.device).expand(x.shape[0])
        return x.long(), masked, initial_masked, beta

    # --------------------------------------------------------------------- programs
    def model(self, x: torch.Tensor, masked: torch.Tensor, *,
              initial_masked: torch.Tensor | None = None, beta: float | torch.Tensor = 0.0,
              kl_scale: float = 1.0, entropy_weight: float = 0.0,
              max_steps: int | None = None) -> torch.Tensor:
        """p_theta(r_1, ..., r_K, x) with x observed.

        x: `[batch, length]` the clean sequences; masked: `[batch, length]` bool, the positions
        still to generate (M0 for a whole trajectory). initial_masked: M0 when the program
        starts mid-trajectory (defaults to `masked`). beta: the price per step, a number or
        `[batch]`. kl_scale (> 0): annealing of the step sites. entropy_weight: used by the
        guide only. max_steps: stop after this many steps (None: until complete).
        Returns the masked positions left, `[batch, length]` bool.
        """
        pyro.module("prior", self.prior)
        x, masked, initial_masked, beta = self._prepare(x, masked, initial_masked, beta)
        with pyro.plate("sequences", x.shape[0], dim=-1):
            k = 0
            while bool(masked.any()) and (max_steps is None or k < max_steps):
                k += 1
                active = masked.any(-1)                                    # [batch]
                state = self.state(x, masked, initial_masked, beta, step=k)
                with poutine.mask(mask=active):
                    pyro.factor(f"price_{k}", -beta)
                    with poutine.scale(scale=kl_scale):
                        r = pyro.sample(f"r_{k}", self.prior.distribution(state))
                    pyro.sample(f"x_{k}", RevealLikelihood(state.true_log_prob, r, x), obs=x,
                                infer={"subset_site": f"r_{k}"})
                masked = masked & ~r.bool()
        return masked

    def guide(self, x: torch.Tensor, masked: torch.Tensor, *,
              initial_masked: torch.Tensor | None = None, beta: float | torch.Tensor = 0.0,
              kl_scale: float = 1.0, entropy_weight: float = 0.0,
              max_steps: int | None = None) -> torch.Tensor:
        """Q_phi(r_1, ..., r_K | x); same arguments as `model`. With entropy_weight > 0 each
        step adds the factor -entropy_weight * H(Q) (a guide factor enters the ELBO with a
        minus sign, so this is a bonus of +entropy_weight * H)."""
        pyro.module("posterior", self.posterior)
        x, masked, initial_masked, beta = self._prepare(x, masked, initial_masked, beta)
        self._cache = {}
        infer = {"baseline": dict(self.baseline)} if self.baseline else {}
        with pyro.plate("sequences", x.shape[0], dim=-1):
            k = 0
            while bool(masked.any()) and (max_steps is None or k < max_steps):
                k += 1
                active = masked.any(-1)
                state = self.state(x, masked, initial_masked, beta, step=k, remember=True)
                q = self.posterior.distribution(state, x)
                with poutine.mask(mask=active):
                    if entropy_weight:
                        pyro.factor(f"entropy_{k}", -entropy_weight * q.entropy(), has_rsample=True)
                    with poutine.scale(scale=kl_scale):
                        r = pyro.sample(f"r_{k}", q, infer=dict(infer))
                masked = masked & ~r.bool()
        return masked
