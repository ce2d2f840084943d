"""Plain settings objects that the `train` and `eval` config groups instantiate."""
from __future__ import annotations

import math
from dataclasses import dataclass


def require_positive(settings, group: str, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{group}.{name} must be an integer >= 1, got {value!r}")


def require_finite(settings, group: str, names: tuple[str, ...], low: float = 0.0,
                   strict: bool = True) -> None:
    """Each named setting a finite number above `low` (`strict`) or at least `low`."""
    for name in names:
        value = getattr(settings, name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < low or (strict and value == low):
            raise ValueError(f"{group}.{name} must be a finite number {'>' if strict else '>='} "
                             f"{low:g}, got {value!r}")


def check_device(device, group: str) -> str:
    """A device string torch can use here: `cuda` needs a CUDA build with a GPU visible."""
    import torch
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"{group}.device must be a torch device such as 'cpu' or 'cuda', got "
                         f"{device!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        why = ("this torch build has no CUDA support" if torch.version.cuda is None
               else "no CUDA GPU is visible")
        raise ValueError(f"{group}.device={device!r}, but {why} (torch {torch.__version__}): "
                         f"use {group}.device=cpu")
    return str(device)


@dataclass
class DenoiserTrainSettings:
    steps: int = 4500
    batch_size: int = 256
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int = 200
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    bf16: bool = True
    log_every: int = 20
    eval_every: int = 500
    ckpt_every: int = 100
    val_grids: int = 512
    threads: int | None = None
    # which model folder `export_to` receives: "last" (the final step) or "best" (the
    # validation point of lowest val/loss, kept in <run dir>/best)
    export: str = "last"

    def __post_init__(self):
        if self.export not in ("last", "best"):
            raise ValueError(f"train.export must be 'last' or 'best', got {self.export!r}")
        require_positive(self, "train", ("steps", "batch_size", "log_every", "eval_every",
                                         "ckpt_every"))
        require_finite(self, "train", ("lr",))
        require_finite(self, "train", ("weight_decay", "min_lr_ratio"), strict=False)


@dataclass
class EvalSettings:
    batch_size: int = 256
    temperature: float = 0.0
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self):
        require_positive(self, "eval", ("batch_size",))
        require_finite(self, "eval", ("temperature",), strict=False)
        self.device = check_device(self.device, "eval")


@dataclass
class PlannerTrainSettings:
    """estimator: a pyro.infer.ELBO (instantiated from its own `_target_`).
    beta: each training sequence's price per denoiser call is log-uniform in [beta_min,
    beta_max] (the planner is conditioned on it). kl_scale rises linearly from kl_start to 1
    over kl_anneal steps; the entropy bonus on Q falls linearly from entropy_start to 0 over
    entropy_anneal steps (Pyro's DMM-style annealing against early collapse).
    max_denoiser_calls: stop before `steps` once the training steps have spent this many
    denoiser forward passes (per sequence; None: no cap), so that objectives that spend
    calls differently train on the same budget (docs/results/objectives.md)."""

    estimator: object = None
    steps: int = 1500
    batch_size: int = 32
    lr: float = 3e-3
    clip_norm: float = 10.0
    beta_min: float = 0.01
    beta_max: float = 1.0
    kl_start: float = 0.2
    kl_anneal: int = 300
    entropy_start: float = 0.05
    entropy_anneal: int = 300
    givens_min: int | None = 17     # None (both): the task's own prompt/answer split
    givens_max: int | None = 40
    log_every: int = 10
    eval_every: int = 250
    ckpt_every: int = 50
    grad_var_every: int = 250
    grad_var_draws: int = 4
    val_limit: int = 128
    val_beta: float = 0.1
    # validate by drawing the prior's subsets (its training-time behaviour, the `sample` mode of
    # `policy=learned`; a fixed seed) instead of thresholding them (`deterministic`)
    val_mode: str = "deterministic"
    denoiser_bf16: bool = False      # run the frozen denoiser under bf16 autocast (also on CPU)
    threads: int | None = None
    shards: int | None = None        # the batch's parts, gradients summed (None: one per process)
    backend: str = "gloo"            # torch.distributed backend under torchrun
    max_denoiser_calls: int | None = None

    def __post_init__(self):
        require_positive(self, "train", ("steps", "batch_size", "log_every", "eval_every",
                                         "ckpt_every", "grad_var_every"))
        if self.max_denoiser_calls is not None:
            require_positive(self, "train", ("max_denoiser_calls",))
        require_finite(self, "train", ("lr",))
        if self.shards is not None and (self.shards < 1 or self.batch_size % self.shards):
            raise ValueError(f"train.shards must divide train.batch_size {self.batch_size}, "
                             f"got {self.shards}")
        if not 0 < self.beta_min <= self.beta_max:
            raise ValueError(f"need 0 < train.beta_min <= train.beta_max, got "
                             f"{self.beta_min}, {self.beta_max}")
        if self.val_mode not in ("deterministic", "sample"):
            raise ValueError(f"train.val_mode must be 'deterministic' or 'sample', got "
                             f"{self.val_mode!r}")
        if not 0 < self.kl_start <= 1:
            raise ValueError(f"train.kl_start must be in (0, 1], got {self.kl_start}")


@dataclass
class CorrectnessTrainSettings:
    """The correctness planner's training (`python -m experiments.train_correctness`).

    Round 0 collects the states that `collect_policy` reaches at each of `collect_f` on
    `puzzles` fresh puzzles per knob; every later round (`rounds` in all) adds the states
    the model's own policy (`learned_correct`) reaches at each of `self_f`, on fresh puzzles,
    and the model is fitted again on every state so far (DAgger-style). Each fit: `iterations`
    Adam steps at `lr` on minibatches of `batch_cells` masked cells (binary cross-entropy on
    "the argmax is the clean token"). Validation after each round: val/accuracy and val/nfe of
    the policy at `val_f` on `val_limit` spread validation puzzles, and val/auc, val/loss on
    the states `collect_policy` reaches there at `val_collect_f`."""

    collect_policy: str = "factor_margin"
    collect_f: tuple = (1.5, 2.5, 4.0)
    self_f: tuple = (1.5, 2.5, 4.0)
    count: str = "margin"
    rounds: int = 2
    puzzles: int = 600
    givens_min: int = 17
    givens_max: int = 40
    hidden: int = 64
    layers: int = 2
    iterations: int = 1500
    batch_cells: int = 4096
    lr: float = 3.0e-3
    val_limit: int = 256
    val_f: float = 2.5
    val_collect_f: float = 2.5
    batch_size: int = 100
    log_every: int = 100
    threads: int | None = None

    def __post_init__(self):
        require_positive(self, "train", ("rounds", "puzzles", "hidden", "layers", "iterations",
                                         "batch_cells", "val_limit", "batch_size", "log_every"))
        require_finite(self, "train", ("lr", "val_f", "val_collect_f"))
        for name in ("collect_f", "self_f"):
            knobs = getattr(self, name)
            if isinstance(knobs, str) or not hasattr(knobs, "__len__") or not len(knobs):
                raise ValueError(f"train.{name} must be a non-empty list of factor knobs f > 0, "
                                 f"got {knobs!r}")
            for f in knobs:
                if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < math.inf:
                    raise ValueError(f"train.{name} must hold finite numbers > 0, got {knobs!r}")
            setattr(self, name, tuple(float(f) for f in knobs))
        if not 0 <= self.givens_min <= self.givens_max:
            raise ValueError(f"train.givens_min..givens_max must be a range of counts, got "
                             f"{self.givens_min}..{self.givens_max}")
        if self.threads is not None:
            require_positive(self, "train", ("threads",))
