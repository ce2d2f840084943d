"""The planner networks' size and inputs, as one config object (`planner` config group)."""
from __future__ import annotations

from dataclasses import dataclass

from denoiser.base import FrozenDenoiser

from .networks import PosteriorNet, PriorNet


@dataclass
class PlannerSpec:
    """d_model, n_layers, n_heads, d_ff: the encoder over positions. use_hidden: project the
    denoiser's last hidden states into the inputs. beta_conditioned: take the price per call
    as an input, so one planner traces the whole accuracy-NFE front. init_logit: the initial
    output bias (0: every p_i starts at 1/2). rank_features, predicted_token, init_threshold,
    init_scale, mixer: see `vi.networks.SubsetNet` (init_threshold starts the planner as the
    confidence-threshold rule at that threshold; None starts it at init_logit; mixer "pool"
    mixes positions by group means instead of attention). factor_features, init_factor: the
    factor rule's inputs, and starting as that rule with that f; factor_score: "confidence" or
    "margin", the quantity the factor inputs rank and test. beta_feature: "log" or "log1p", how
    the price enters a beta-conditioned network. init_factor_slope, init_factor_beta: a factor-rule
    start whose f moves with beta (`vi.networks.SubsetNet`). init_logit_slope, init_logit_beta:
    a random-order start whose inclusion probability moves with beta; schedule_feature: read
    where the row is along its schedule, and start that random order on an even schedule (the
    same). family: the subset distribution,
    "bernoulli" (`BernoulliSubset`, any non-empty set per step) or "singleton"
    (`SingletonSubset`, one position per step: LO-ARM)."""

    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int | None = None
    use_hidden: bool = False
    beta_conditioned: bool = True
    init_logit: float = 0.0
    rank_features: bool = True
    predicted_token: bool = True
    init_threshold: float | None = 0.95
    init_scale: float = 2.0
    mixer: str = "pool"
    beta_feature: str = "log1p"
    factor_features: bool = False
    init_factor: float | None = None
    factor_score: str = "confidence"
    init_factor_slope: float | None = None
    init_factor_beta: float = 0.02
    init_logit_slope: float | None = None
    init_logit_beta: float = 1.0
    schedule_feature: bool = False
    family: str = "bernoulli"
    correctness_path: str | None = None

    def net_kwargs(self, denoiser: FrozenDenoiser, structure: str) -> dict:
        return {"vocab_size": denoiser.vocab_size, "max_length": denoiser.max_length,
                "d_model": self.d_model, "n_layers": self.n_layers, "n_heads": self.n_heads,
                "d_ff": self.d_ff, "structure": structure,
                "hidden_size": denoiser.hidden_size if self.use_hidden else None,
                "beta_conditioned": self.beta_conditioned, "init_logit": self.init_logit,
                "rank_features": self.rank_features, "predicted_token": self.predicted_token,
                "init_threshold": self.init_threshold, "init_scale": self.init_scale,
                "mixer": self.mixer, "beta_feature": self.beta_feature,
                "factor_features": self.factor_features, "init_factor": self.init_factor,
                "factor_score": self.factor_score,
                "init_factor_slope": self.init_factor_slope,
                "init_factor_beta": self.init_factor_beta,
                # recorded only when not the default, so older planner folders load unchanged
                **({} if self.init_logit_slope is None else
                   {"init_logit_slope": self.init_logit_slope,
                    "init_logit_beta": self.init_logit_beta}),
                **({"schedule_feature": True} if self.schedule_feature else {}),
                **({} if self.family == "bernoulli" else {"family": self.family}),
                **({} if self.correctness_path is None else
                   {"correctness_path": self.correctness_path})}

    def build(self, denoiser: FrozenDenoiser, structure: str) -> tuple[PriorNet, PosteriorNet, dict]:
        kwargs = self.net_kwargs(denoiser, structure)
        return PriorNet(**kwargs), PosteriorNet(**kwargs), kwargs
