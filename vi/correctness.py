"""The correctness model: P(the denoiser's argmax at a masked cell is right | the state).

A few-step sampler fails when it commits, beside confident cells, one whose predicted token is
wrong; the first error then cascades (docs/results/sudoku_fewstep.md). The denoiser's own
confidence ranks cells one at a time. This small network reads, per masked cell, its own
statistics and what its group-mates' marginals say about its token (`vi.unit_features`) and
gives the log-odds that its argmax is the clean token. It is trained by maximum likelihood
(binary cross-entropy) on the states a sampler reaches, labelled with the solution
(`python -m experiments.train_correctness`); at sampling time it sees only the state, and the
policy `learned_correct` (`vi.learned_correct_policy`) commits by the factor rule on its
probability.

Saved as a folder (`config.json` + `model.safetensors`) whose config records the network, the
input normalisation and the denoiser it was trained for, as a planner checkpoint does.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from denoiser.base import FrozenDenoiser
from denoiser.checkpoint import load_state

from .checkpoint import check_planner_for, read_network, save_network
from .unit_features import STRUCTURES, cell_features, n_features

MODEL_TYPE = "correctness_planner"


class CorrectnessNet(nn.Module):
    """structure: the position groups of `vi.unit_features`; hidden, layers: the MLP's width and
    number of hidden layers. The inputs are standardised by `mean` and `std` (buffers, set from
    the training states by `set_normalisation`)."""

    def __init__(self, structure: str, hidden: int = 64, layers: int = 2):
        super().__init__()
        if structure not in STRUCTURES:
            raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
        for name, v in (("hidden", hidden), ("layers", layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        self.structure, self.hidden, self.layers = structure, hidden, layers
        width = n_features(structure)
        blocks, d_in = [], width
        for _ in range(layers):
            blocks += [nn.Linear(d_in, hidden), nn.GELU()]
            d_in = hidden
        self.mlp = nn.Sequential(*blocks, nn.Linear(d_in, 1))
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))

    @property
    def kwargs(self) -> dict:
        return {"structure": self.structure, "hidden": self.hidden, "layers": self.layers}

    def set_normalisation(self, features: torch.Tensor) -> None:
        """Standardise by the mean and standard deviation of `features` `[n, n_features]`."""
        self.mean.copy_(features.mean(0))
        self.std.copy_(features.std(0).clamp_min(1e-6))

    def logits_of(self, features: torch.Tensor) -> torch.Tensor:
        """features `[..., n_features]` -> log-odds `[...]` that the argmax is right."""
        return self.mlp((features - self.mean) / self.std)[..., 0]

    def forward(self, probs: torch.Tensor, masked: torch.Tensor,
                initial_masked: torch.Tensor) -> torch.Tensor:
        """probs `[batch, length, vocab]`, masked / initial_masked `[batch, length]` bool ->
        `[batch, length]` log-odds (meaningful at the masked positions)."""
        return self.logits_of(cell_features(probs, masked, initial_masked, self.structure))


def save_correctness(path: str | Path, net: CorrectnessNet, denoiser: FrozenDenoiser,
                     extra: dict | None = None) -> None:
    save_network(path, MODEL_TYPE, "net", net.kwargs, net.state_dict(), denoiser, extra)


def load_correctness(path: str | Path, denoiser: FrozenDenoiser | None = None
                     ) -> tuple[CorrectnessNet, dict]:
    """The network and its config; with `denoiser`, refuse one trained for another."""
    config, state = read_network(path, MODEL_TYPE,
                                 "a correctness planner, experiments.train_correctness")
    if not isinstance(config.get("net"), dict):
        raise ValueError(f"{Path(path) / 'config.json'} has no 'net' record (an object with the "
                         f"network's structure, hidden and layers)")
    try:
        net = CorrectnessNet(**config["net"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{Path(path) / 'config.json'}: its 'net' record does not describe a "
                         f"correctness network: {e}") from None
    if denoiser is not None:
        check_planner_for(config, path, denoiser)
    load_state(net, state, path)
    net.eval()
    return net, config
