"""The planner networks: the prior P_theta(r | x^(k-1)) and the posterior Q_phi(r | x^(k-1), x).

Both are the same small bidirectional transformer over positions (docs/design.md section 3, "Planner
network"): per-position features (`vi.features`), an embedding of the current token, a learned
position embedding (plus Sudoku row / column / box embeddings with `structure="sudoku"`),
optionally a projection of the denoiser's hidden states and the price `beta`; then a
pre-LayerNorm encoder and one logit per position. The logits parameterise a `BernoulliSubset`
over the still-masked positions. The posterior also sees the clean sequence `x`: the
embedding of the true token, its log-probability under the denoiser and whether the
denoiser's argmax is right.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from planner.policies.factor import check_factor_score

from .correct_features import correctness_rank_features
from .features import (FACTOR_FEATURES, RANK_FEATURES, STATE_FEATURES, TRUTH_FEATURES,
                       OrderState, factor_features, rank_features, schedule_features,
                       state_features, truth_features)
from .mixers import PoolEncoder
from .singleton import SingletonSubset
from .subset import BernoulliSubset

# The subset families a network's logits parameterise (docs/design.md section 3): any non-empty
# set of the masked positions, or one position per step (LO-ARM).
FAMILIES = {"bernoulli": BernoulliSubset, "singleton": SingletonSubset}
STRUCTURES = ("sequence", "sudoku")
MIXERS = ("attention", "pool")
BETA_FEATURES = ("log1p", "log")
# The floor of beta under beta_feature="log" (beta = 0 is allowed and reads as this).
MIN_BETA = 1e-4


def check_price_start(slope_name: str, slope, beta_name: str, beta0, beta_conditioned: bool,
                      beta_feature: str) -> None:
    """A start that moves with log beta needs the price as a log input, a finite slope and a
    reference price at or above the floor."""
    if not beta_conditioned or beta_feature != "log":
        raise ValueError(f"{slope_name}={slope!r} moves the start with log beta: it needs "
                         f"beta_conditioned=True and beta_feature='log', got "
                         f"beta_conditioned={beta_conditioned!r}, beta_feature={beta_feature!r}")
    if isinstance(slope, bool) or not isinstance(slope, (int, float)) or not math.isfinite(slope):
        raise ValueError(f"{slope_name} must be a finite number, got {slope!r}")
    if isinstance(beta0, bool) or not isinstance(beta0, (int, float)) or not beta0 >= MIN_BETA:
        raise ValueError(f"{beta_name} must be >= {MIN_BETA} (the floor of beta), got {beta0!r}")


def load_frozen_correctness(path: str, structure: str):
    """The correctness model at `path` (`vi.correctness`), frozen: its parameters are not the
    planner's (they are neither trained nor saved with it; the planner records the path)."""
    from denoiser.paths import resolve_folder

    from .correctness import load_correctness

    net, config = load_correctness(resolve_folder(path))
    if net.structure != structure:
        raise ValueError(f"the correctness model at {path} reads structure {net.structure!r}; "
                         f"this planner's is {structure!r}")
    for p in net.parameters():
        p.requires_grad_(False)
    return net, config


class SubsetNet(nn.Module):
    """Shared body: features `[batch, length, F]` -> logits `[batch, length]`.

    vocab_size, max_length: the denoiser's (token ids include the mask token).
    d_model, n_layers, n_heads, d_ff: the encoder's size (d_ff defaults to 2 * d_model).
    structure: "sequence" (position embedding only) or "sudoku" (adds row, column, box).
    hidden_size: the denoiser's hidden size to project its hidden states, or None to not use them.
    beta_conditioned: whether the price is an input, so one planner serves several prices.
    beta_feature: how the price enters: "log1p" (log(1 + beta), for prices of order 1) or "log"
        (log beta, floored at MIN_BETA: spreads the small prices, 0.003 to 0.3 nats, that keep
        accuracy, over several units instead of 0.003 to 0.26).
    init_logit: the output bias at initialisation (0: every p_i starts at 1/2).
    rank_features: also read the heuristics' view (`vi.features.RANK_FEATURES`: log-odds of the
        top-1 probability, confidence rank among the masked, the most confident one).
    predicted_token: also embed the denoiser's argmax at each masked position, so attention can
        see two positions about to commit conflicting tokens.
    init_threshold: start as the Fast-dLLM confidence-threshold rule. A linear skip from the
        inputs to the logit is initialised to init_scale * (log_odds - logit(init_threshold)),
        the encoder's head to zero, so at initialisation p_i > 1/2 exactly where p_i(v1) >
        init_threshold; training then learns the correction. Needs rank_features. None: no skip
        (the logit is the encoder's alone, bias init_logit).
    mixer: "attention" (a transformer encoder) or "pool" (`vi.mixers.PoolEncoder`: means over
        the structure's groups, several times cheaper on a CPU).
    factor_features: also read the factor rule's view (`vi.features.FACTOR_FEATURES`).
    init_factor: start as the Fast-dLLM factor rule with this f instead (p_i > 1/2 exactly where
        (n + 1)(1 - c(n)) < f for the position of confidence rank n). Needs factor_features;
        excludes init_threshold.
    factor_score: what the factor features rank and test, "confidence" (the `factor` rule) or
        "margin" (the `factor_margin` rule, (n + 1)(1 - m(n)) < f by margin rank).
    correctness_path: a frozen correctness model (`vi.correctness`, e.g.
        weights/sudoku-correctness). The factor inputs are then read at each cell's
        correctness rank and its log-odds c is one more input (`vi.correct_features`), so that
        init_factor starts the planner as `learned_correct` (the cells of highest c, as many as
        the factor rule on the margin takes). Needs factor_features and factor_score "margin".
    init_factor_slope, init_factor_beta: start as the factor rule with an f that moves with the
        price, f(beta) = init_factor * (beta / init_factor_beta) ** init_factor_slope (the skip
        also reads log beta), so that before training a higher price already commits more cells
        per step. Needs init_factor, beta_conditioned and beta_feature="log"; None (the
        default): f does not depend on beta.
    init_logit_slope, init_logit_beta: start as a random order whose inclusion probability
        moves with the price: every masked position's logit is init_logit + init_logit_slope *
        log(beta / init_logit_beta), whatever the state (a skip that reads only log beta), so
        that before training a higher price reveals more positions per step, none preferred.
        Needs beta_conditioned and beta_feature="log"; excludes init_threshold and
        init_factor. None (the default): no such start.
    schedule_feature: also read log(share of the generated positions still masked)
        (`vi.features.schedule_features`). With init_logit_slope the start is then a random
        order on an even schedule: logit init_logit + slope * log(beta / beta0) - log(share),
        i.e. p_i about 1 / (share * T(beta)) with T(beta) = exp(-init_logit) (beta /
        beta0)^-slope calls, as random_k with T steps reveals n / T positions a call.
    family: the subset distribution the logits parameterise, "bernoulli" (`BernoulliSubset`)
        or "singleton" (`SingletonSubset`: one position per step, the softmax of the logits
        over the masked positions; LO-ARM).
    """

    n_extra_features = 0

    def __init__(self, vocab_size: int, max_length: int, *, d_model: int = 32, n_layers: int = 2,
                 n_heads: int = 4, d_ff: int | None = None, structure: str = "sequence",
                 hidden_size: int | None = None, beta_conditioned: bool = False,
                 init_logit: float = 0.0, dropout: float = 0.0, rank_features: bool = False,
                 predicted_token: bool = False, init_threshold: float | None = None,
                 init_scale: float = 2.0, mixer: str = "attention", beta_feature: str = "log1p",
                 factor_features: bool = False, init_factor: float | None = None,
                 factor_score: str = "confidence", init_factor_slope: float | None = None,
                 init_factor_beta: float = 0.02, init_logit_slope: float | None = None,
                 init_logit_beta: float = 1.0, schedule_feature: bool = False,
                 family: str = "bernoulli", correctness_path: str | None = None):
        super().__init__()
        if family not in FAMILIES:
            raise ValueError(f"family must be one of {tuple(FAMILIES)}, got {family!r}")
        self.family = family
        self.subset_class = FAMILIES[family]
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        if structure == "sudoku" and max_length != 81:
            raise ValueError(f"structure 'sudoku' needs max_length 81, got {max_length}")
        if mixer not in MIXERS:
            raise ValueError(f"mixer must be one of {MIXERS}, got {mixer!r}")
        if mixer == "attention" and d_model % n_heads:
            raise ValueError(f"d_model {d_model} must be divisible by n_heads {n_heads}")
        self.vocab_size, self.max_length = vocab_size, max_length
        self.structure, self.hidden_size = structure, hidden_size
        self.beta_conditioned = beta_conditioned
        if beta_feature not in BETA_FEATURES:
            raise ValueError(f"beta_feature must be one of {BETA_FEATURES}, got {beta_feature!r}")
        self.beta_feature = beta_feature
        self.rank_features = rank_features
        if init_threshold is not None:
            if not rank_features:
                raise ValueError("init_threshold reads the log-odds feature: it needs "
                                 "rank_features=True")
            if not 0.0 < init_threshold < 1.0:
                raise ValueError(f"init_threshold must be in (0, 1), got {init_threshold!r}")
        self.factor_features = factor_features
        check_factor_score(factor_score, "factor_score")
        self.factor_score = factor_score
        self.correctness_path, self._correctness = correctness_path, None
        if correctness_path is not None:
            if not factor_features or factor_score != "margin":
                raise ValueError(f"correctness_path={correctness_path!r} reads the factor rule "
                                 f"on the margin at the correctness rank: it needs "
                                 f"factor_features=True and factor_score='margin', got "
                                 f"factor_features={factor_features!r}, "
                                 f"factor_score={factor_score!r}")
            # not a submodule: outside the planner's parameters, state_dict and Pyro's param store
            net, self._correctness_config = load_frozen_correctness(correctness_path, structure)
            object.__setattr__(self, "_correctness", net)
        if init_factor is not None:
            if not factor_features:
                raise ValueError("init_factor reads the factor features: it needs "
                                 "factor_features=True")
            if init_threshold is not None:
                raise ValueError(f"start as one rule: init_threshold={init_threshold!r} and "
                                 f"init_factor={init_factor!r} were both given")
            if isinstance(init_factor, bool) or not 0.0 < init_factor < math.inf:
                raise ValueError(f"init_factor must be a finite number > 0, got {init_factor!r}")
        if init_factor_slope is not None:
            if init_factor is None:
                raise ValueError(f"init_factor_slope={init_factor_slope!r} moves the factor rule's "
                                 f"f with log beta: it needs init_factor, got None")
            check_price_start("init_factor_slope", init_factor_slope, "init_factor_beta",
                              init_factor_beta, beta_conditioned, beta_feature)
        if init_logit_slope is not None:
            check_price_start("init_logit_slope", init_logit_slope, "init_logit_beta",
                              init_logit_beta, beta_conditioned, beta_feature)
            if init_threshold is not None or init_factor is not None:
                raise ValueError(f"start as one rule: init_logit_slope={init_logit_slope!r} (a "
                                 f"random order) excludes init_threshold={init_threshold!r} and "
                                 f"init_factor={init_factor!r}")
        n_factor_at = len(STATE_FEATURES) + len(RANK_FEATURES) * int(rank_features)
        n_schedule_at = (n_factor_at + len(FACTOR_FEATURES) * int(factor_features)
                         + int(correctness_path is not None))      # the c log-odds input
        self.schedule_feature = schedule_feature
        n_in = (n_schedule_at + int(schedule_feature)
                + self.n_extra_features + int(beta_conditioned))
        self.inp = nn.Linear(n_in, d_model)
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pred = nn.Embedding(vocab_size, d_model) if predicted_token else None
        self.pos = nn.Embedding(max_length, d_model)
        if structure == "sudoku":
            from denoiser.grid import BOX, COL, ROW
            self.row, self.col, self.box = (nn.Embedding(9, d_model) for _ in range(3))
            self.register_buffer("cell_row", ROW.clone(), persistent=False)
            self.register_buffer("cell_col", COL.clone(), persistent=False)
            self.register_buffer("cell_box", BOX.clone(), persistent=False)
        self.hidden_proj = nn.Linear(hidden_size, d_model) if hidden_size else None
        self.mixer_name = mixer
        if mixer == "pool":
            self.encoder = PoolEncoder(d_model, d_ff or 2 * d_model, n_layers, structure)
        else:
            layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff or 2 * d_model, dropout,
                                               activation="gelu", batch_first=True, norm_first=True)
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, init_logit)
        self.skip = None
        if init_threshold is not None or init_factor is not None or init_logit_slope is not None:
            self.skip = nn.Linear(n_in, 1)
            nn.init.zeros_(self.skip.weight)
            nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            if init_threshold is not None:     # init_scale * (log_odds - logit(tau))
                log_odds = len(STATE_FEATURES) + RANK_FEATURES.index("log_odds")
                self.skip.weight[0, log_odds] = init_scale
                self.skip.bias.fill_(-init_scale * math.log(init_threshold / (1 - init_threshold)))
            if init_factor is not None:        # init_scale * (neg_log_miss - log_rank + log f)
                at = n_factor_at + FACTOR_FEATURES.index("neg_log_miss")
                self.skip.weight[0, at] = init_scale
                self.skip.weight[0, n_factor_at + FACTOR_FEATURES.index("log_rank")] = -init_scale
                self.skip.bias.fill_(init_scale * math.log(init_factor))
                if init_factor_slope is not None:   # log f(beta) = log f + slope * log(beta / beta0)
                    self.skip.weight[0, n_in - 1] = init_scale * init_factor_slope  # the price input
                    self.skip.bias.add_(-init_scale * init_factor_slope * math.log(init_factor_beta))
            if init_logit_slope is not None:   # init_logit + slope * log(beta / beta0)
                self.skip.weight[0, n_in - 1] = init_logit_slope      # the price input
                self.skip.bias.fill_(init_logit - init_logit_slope * math.log(init_logit_beta))
                if schedule_feature:           # - log(share still masked): an even schedule
                    self.skip.weight[0, n_schedule_at] = -1.0

    def check_denoiser(self, denoiser) -> None:
        """Refuse a denoiser other than the one the frozen correctness model was trained for
        (nothing to check without one)."""
        if self._correctness is not None:
            from .checkpoint import check_planner_for
            check_planner_for(self._correctness_config, self.correctness_path, denoiser)

    @property
    def reads_probs(self) -> bool:
        """Whether the network reads the denoiser's full distribution (`state.denoised.probs`)."""
        return self._correctness is not None

    @property
    def uses_hidden(self) -> bool:
        """Whether the denoiser must return its hidden states for this network."""
        return self.hidden_proj is not None

    def _logits(self, state: OrderState, extra: torch.Tensor | None = None,
                extra_embedding: torch.Tensor | None = None) -> torch.Tensor:
        """extra: `[batch, length, n_extra_features]`; extra_embedding: `[batch, length, d]`."""
        feats = [state_features(state)]
        if self.rank_features:
            feats.append(rank_features(state))
        if self._correctness is not None:    # the factor inputs at the correctness rank, then c
            c_feats = correctness_rank_features(state, self._correctness)
            feats += [c_feats[..., 1:], c_feats[..., :1]]
        elif self.factor_features:
            feats.append(factor_features(state, self.factor_score))
        if self.schedule_feature:
            feats.append(schedule_features(state))
        if extra is not None:
            feats.append(extra)
        if self.beta_conditioned:
            if state.beta is None:
                raise ValueError("this planner is conditioned on beta; state.beta is None")
            beta = state.beta.float()
            price = torch.log1p(beta) if self.beta_feature == "log1p" else beta.clamp(min=MIN_BETA).log()
            feats.append(price[:, None, None].expand(
                *state.masked.shape, 1))
        n = state.tokens.shape[1]
        if n > self.max_length:
            raise ValueError(f"length {n} exceeds the planner's max_length {self.max_length}")
        inputs = torch.cat(feats, dim=-1)
        h = self.inp(inputs) + self.tok(state.tokens)
        if self.pred is not None:
            h = h + self.pred(state.denoised.argmax.masked_fill(~state.masked, 0))
        if extra_embedding is not None:
            h = h + extra_embedding
        if self.structure == "sudoku":
            h = h + self.row(self.cell_row) + self.col(self.cell_col) + self.box(self.cell_box)
        else:
            h = h + self.pos(torch.arange(n, device=h.device))
        if self.hidden_proj is not None:
            if state.denoised.hidden is None:
                raise ValueError("this planner projects the denoiser's hidden states; "
                                 "the summary has none")
            h = h + self.hidden_proj(state.denoised.hidden.float())
        if state.padding is not None and self.mixer_name == "attention":
            encoded = self.encoder(h, src_key_padding_mask=state.padding)
        else:
            if state.padding is not None and bool(state.padding.any()):
                raise ValueError("a planner with the pool mixer pools over whole rows, so it "
                                 "cannot run a padded batch: give rows of one length")
            encoded = self.encoder(h)
        logits = self.head(self.norm(encoded)).squeeze(-1)
        if self.skip is not None:
            logits = logits + self.skip(inputs).squeeze(-1)
        return logits


class PriorNet(SubsetNet):
    """P_theta(r | x^(k-1)): sees only the state. `forward(state) -> [batch, length]` logits."""

    def forward(self, state: OrderState) -> torch.Tensor:
        return self._logits(state)

    def distribution(self, state: OrderState) -> BernoulliSubset | SingletonSubset:
        """The subset distribution (the network's family) over `state.masked`, batch_shape
        `[batch]`."""
        return self.subset_class(logits=self(state), available=state.masked)


class PosteriorNet(SubsetNet):
    """Q_phi(r | x^(k-1), x): also sees the clean tokens x `[batch, length]` (their embedding,
    log p_D of the true token, and whether the denoiser's argmax is right).
    `forward(state, x) -> [batch, length]` logits."""

    n_extra_features = len(TRUTH_FEATURES)

    def __init__(self, vocab_size: int, max_length: int, **kwargs):
        super().__init__(vocab_size, max_length, **kwargs)
        self.true_tok = nn.Embedding(vocab_size, self.tok.embedding_dim)

    def forward(self, state: OrderState, x: torch.Tensor) -> torch.Tensor:
        return self._logits(state, extra=truth_features(state, x),
                            extra_embedding=self.true_tok(x))

    def distribution(self, state: OrderState, x: torch.Tensor) -> BernoulliSubset | SingletonSubset:
        return self.subset_class(logits=self(state, x), available=state.masked)
