"""Synthetic denoisers and step contexts for the policy tests."""
from __future__ import annotations

import math

import torch
from torch import nn

from denoiser.base import Denoiser, DenoiserOutput
from denoiser.genmd4 import masking_power
from planner.context import StepContext
import vi  # noqa: F401  registers the learned policies, so every test sees all of policy_names()


class ToyDenoiser(Denoiser):
    """Deterministic pseudo-random logits from the tokens: a fixed random embedding of each
    token, plus the mean embedding of the whole sequence (so every revealed token moves every
    prediction, and the order matters), plus a position embedding, through tanh and a linear map."""

    def __init__(self, vocab_size: int = 10, length: int = 12, mask_id: int = 0, seed: int = 0,
                 d: int = 16, sharpness: float = 4.0):
        super().__init__()
        self.vocab_size, self.max_length, self.mask_id, self.hidden_size = vocab_size, length, mask_id, d
        g = torch.Generator().manual_seed(seed)
        self.emb = nn.Parameter(torch.randn(vocab_size, d, generator=g))
        self.pos = nn.Parameter(torch.randn(length, d, generator=g))
        self.out = nn.Parameter(torch.randn(d, vocab_size, generator=g) * sharpness / math.sqrt(d))

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False) -> DenoiserOutput:
        e = self.emb[tokens]
        h = torch.tanh(e + e.mean(1, keepdim=True) + self.pos[: tokens.shape[1]])
        logits = h @ self.out
        logits[..., self.mask_id] = float("-inf")
        return DenoiserOutput(logits, h if return_hidden else None)


A, B, MASK = 1, 2, 0


class AlternationDenoiser(Denoiser):
    """The exact conditionals of the uniform distribution over the two alternating sequences
    ABAB... and BABA... (vocab {mask, A, B}).

    p(x_i | revealed) is 1/2 - 1/2 when both sequences agree with the revealed tokens (nothing
    revealed) or neither does (inconsistent tokens), and puts probability 1 on the token of
    the one sequence that agrees otherwise. Impossible tokens get logit -inf, so softmax gives
    exactly 1 and 0.
    """

    def __init__(self, length: int = 6):
        super().__init__()
        self.vocab_size, self.max_length, self.mask_id = 3, length, MASK
        self._anchor = nn.Parameter(torch.zeros(()))   # FrozenDenoiser needs a parameter
        i = torch.arange(length)
        self.register_buffer("patterns", torch.stack([torch.where(i % 2 == 0, A, B),
                                                      torch.where(i % 2 == 0, B, A)]))

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False) -> DenoiserOutput:
        n = tokens.shape[1]
        patterns = self.patterns[:, :n]                                        # [2, n]
        revealed = (tokens != MASK)[:, None, :]
        agrees = ((tokens[:, None, :] == patterns[None]) | ~revealed).all(-1)  # [batch, 2]
        one = agrees.sum(-1) == 1
        which = agrees.long().argmax(-1)                                       # the agreeing one
        target = patterns[which]                                               # [batch, n]
        logits = torch.full((tokens.shape[0], n, 3), float("-inf"))
        logits[..., A] = 0.0
        logits[..., B] = 0.0
        sure = torch.nn.functional.one_hot(target, 3).bool()
        logits = torch.where(one[:, None, None] & ~sure, float("-inf"), logits)
        return DenoiserOutput(logits, None)


def make_ctx(probs, masked=None, initial_masked=None, step=None, rows=None, mask_id: int = 0,
             generator: torch.Generator | None = None) -> StepContext:
    """A StepContext from chosen probabilities `[batch, length, vocab]` (mask entry 0)."""
    probs = torch.as_tensor(probs, dtype=torch.float64)
    batch, length, _ = probs.shape
    logits = probs.log().float()
    masked = torch.ones(batch, length, dtype=torch.bool) if masked is None else torch.as_tensor(masked)
    initial_masked = masked.clone() if initial_masked is None else torch.as_tensor(initial_masked)
    tokens = torch.where(masked, mask_id, probs.argmax(-1))
    return StepContext(logits=logits, tokens=tokens, masked=masked, initial_masked=initial_masked,
                       step=torch.zeros(batch, dtype=torch.long) if step is None else torch.as_tensor(step),
                       rows=torch.arange(batch) if rows is None else torch.as_tensor(rows),
                       generator=generator)


def probs_with_confidence(confidences, vocab: int = 4) -> torch.Tensor:
    """`[1, n, vocab]` distributions whose top probability is each given confidence: the
    rest of the mass spread evenly over the other non-mask tokens (entry 0 is the mask)."""
    c = torch.as_tensor(confidences, dtype=torch.float64)
    p = torch.zeros(len(c), vocab, dtype=torch.float64)
    p[:, 1] = c
    p[:, 2:] = ((1 - c) / (vocab - 2))[:, None]
    return p[None]


_PLANNERS: dict[tuple[str, bool], str] = {}


def toy_planner_path(denoiser: Denoiser, random_head: bool = True) -> str:
    """A small untrained planner checkpoint made for `denoiser` (cached per denoiser).

    random_head=False keeps the initial zero output layer: every p_i is 1/2, so the
    deterministic mode takes the single first position each step. random_head=True gives
    varied p_i, so steps take several positions."""
    import tempfile
    from pathlib import Path

    from denoiser.base import FrozenDenoiser
    from vi.checkpoint import save_planner
    from vi.networks import PriorNet

    frozen = FrozenDenoiser(denoiser)
    key = (frozen.identity, random_head)
    if key not in _PLANNERS:
        kwargs = dict(vocab_size=frozen.vocab_size, max_length=frozen.max_length, d_model=16,
                      n_layers=1, n_heads=2, beta_conditioned=True)
        torch.manual_seed(0)
        prior = PriorNet(**kwargs)
        if random_head:
            nn.init.normal_(prior.head.weight, std=2.0)
        path = Path(tempfile.mkdtemp(prefix="toy-planner-")) / "planner"
        save_planner(path, prior, kwargs, frozen)
        _PLANNERS[key] = str(path)
    return _PLANNERS[key]


def toy_correctness_path(denoiser: Denoiser) -> str:
    """A correctness planner (`vi.correctness`, structure "sequence") made for `denoiser`, its
    output layer zero: every c_i is 1/2 (cached per denoiser)."""
    import tempfile
    from pathlib import Path

    from denoiser.base import FrozenDenoiser
    from vi.correctness import CorrectnessNet, save_correctness

    frozen = FrozenDenoiser(denoiser)
    key = (frozen.identity, "correctness")
    if key not in _PLANNERS:
        torch.manual_seed(0)
        net = CorrectnessNet("sequence", hidden=8, layers=1)
        nn.init.zeros_(net.mlp[-1].weight)
        nn.init.zeros_(net.mlp[-1].bias)
        path = Path(tempfile.mkdtemp(prefix="toy-correctness-")) / "planner"
        save_correctness(path, net, frozen)
        _PLANNERS[key] = str(path)
    return _PLANNERS[key]


def make_policy(name: str, denoiser: Denoiser, **overrides):
    """`planner.load_policy`, with the learned policy pointed at a planner made for `denoiser`."""
    from planner import load_policy

    if name == "learned_correct":
        overrides.pop("random_head", None)
        overrides.setdefault("path", toy_correctness_path(denoiser))
    elif name == "learned_backtrack":   # restarts over learned_correct on a toy model
        overrides.pop("random_head", None)
        overrides.setdefault("inner_knobs", {"f": 0.5, "path": toy_correctness_path(denoiser)})
    elif name.startswith("learned"):    # learned, learned_fewstep, learned_grpo, ...: one class
        overrides.setdefault("path", toy_planner_path(denoiser, overrides.pop("random_head", True)))
    if name == "genmd4" and masking_power(denoiser) is None:  # a toy schedule
        overrides.setdefault("power", [0.5 + 0.75 * (v % 3) for v in range(denoiser.vocab_size)])
    return load_policy(name, **overrides)


class NearOneDenoiser(ToyDenoiser):
    """ToyDenoiser logits with confidences within 1e-7 of 1 and exact ties, for the
    conformance suite.

    At half of the positions (fixed by the seed) the top logit is raised by 17-25, so
    1 - p(v1) is about 1e-8 to 1e-11: float32 rounds those confidences to exactly 1.0 (they
    tie), float64 keeps them apart. Positions 2 and 3 share their position embedding and
    boost, so while both are masked their logits are identical (an exact tie in any
    precision). Logits depend on the whole sequence, so the order matters.
    """

    def __init__(self, vocab_size: int = 10, length: int = 24, mask_id: int = 0, seed: int = 0):
        super().__init__(vocab_size=vocab_size, length=length, mask_id=mask_id, seed=seed, d=16,
                         sharpness=3.0)
        g = torch.Generator().manual_seed(seed + 1000)
        with torch.no_grad():
            self.pos[3] = self.pos[2]
        boost = (17 + 8 * torch.rand(length, generator=g)) * (torch.rand(length, generator=g) < 0.5)
        boost[3] = boost[2]
        self.register_buffer("boost", boost)

    def forward(self, tokens: torch.Tensor, return_hidden: bool = False) -> DenoiserOutput:
        out = super().forward(tokens, return_hidden)
        logits = out.logits
        top = logits.argmax(-1, keepdim=True)
        boost = self.boost[: tokens.shape[1], None].expand_as(top).to(logits.dtype)
        bump = torch.zeros_like(logits).scatter(-1, top, boost)
        return DenoiserOutput(logits + bump, out.hidden)


def logits_fn(denoiser: Denoiser):
    """The `model(x) -> logits` callable the oracles take: float32, the mask token at -inf."""
    def model(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return denoiser(x).logits.float()
    return model


def prompt_batch(batch: int, prompt_length: int, vocab_size: int = 10, seed: int = 0) -> torch.Tensor:
    """`[batch, prompt_length]` random non-mask tokens (mask id 0)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(1, vocab_size, (batch, prompt_length), generator=g)
