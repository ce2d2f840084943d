"""Planner checkpoints: a folder with `config.json` + `model.safetensors` (the prior P_theta).

The config records the network's settings and the denoiser it was trained for (vocabulary,
length, mask id and the sha256 fingerprint of its weights), so that loading it for another
denoiser is refused with a clear error.
"""
from __future__ import annotations

from pathlib import Path

from denoiser.base import FrozenDenoiser
from denoiser.checkpoint import check_compatible, load_folder, load_state, save_folder

from .networks import PosteriorNet, PriorNet

MODEL_TYPE = "order_planner"
# The posterior Q_phi beside a planner folder (`<planner>/posterior/`): an oracle that sees
# the solution, for measuring the posterior-to-prior gap (`experiments.oracle`).
POSTERIOR_TYPE = "order_posterior"


def denoiser_record(denoiser: FrozenDenoiser) -> dict:
    return {"vocab_size": denoiser.vocab_size, "max_length": denoiser.max_length,
            "mask_id": denoiser.mask_id, "fingerprint": denoiser.identity}


def save_network(path: str | Path, model_type: str, key: str, net_kwargs: dict, state: dict,
                 denoiser: FrozenDenoiser, extra: dict | None = None) -> None:
    """A network folder: config.json records `model_type`, the network's settings under `key`
    and the denoiser it was trained for; model.safetensors its weights."""
    config = {"model_type": model_type, key: dict(net_kwargs),
              "denoiser": denoiser_record(denoiser), **(extra or {})}
    save_folder(path, config, state)


def read_network(path: str | Path, model_type: str, what: str) -> tuple[dict, dict]:
    """(config, weights) of a folder written by `save_network`, refused unless it holds
    `model_type` (`what` says what that is, for the error)."""
    config, state = load_folder(path)
    if config.get("model_type") != model_type:
        raise ValueError(f"{path} holds model_type={config.get('model_type')!r}, expected "
                         f"{model_type!r} ({what})")
    return config, state


def save_planner(path: str | Path, prior: PriorNet, net_kwargs: dict, denoiser: FrozenDenoiser,
                 extra: dict | None = None) -> None:
    save_network(path, MODEL_TYPE, "prior", net_kwargs, prior.state_dict(), denoiser, extra)


def load_planner(path: str | Path, denoiser: FrozenDenoiser | None = None) -> tuple[PriorNet, dict]:
    """The prior and the config; with `denoiser`, refuse a planner trained for another."""
    config, state = read_network(path, MODEL_TYPE, "a planner checkpoint")
    for key in ("prior", "denoiser"):
        if not isinstance(config.get(key), dict):
            raise ValueError(f"{Path(path) / 'config.json'} has no {key!r} record (an object); a "
                             f"planner config records the network ('prior') and the denoiser "
                             f"it was trained for ('denoiser'), as save_planner writes them")
    if denoiser is not None:
        check_planner_for(config, path, denoiser)
    try:
        prior = PriorNet(**config["prior"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{Path(path) / 'config.json'}: its 'prior' record does not describe a "
                         f"planner network: {e}") from None
    load_state(prior, state, path)
    prior.eval()
    return prior, config


def check_planner_for(config: dict, path, denoiser: FrozenDenoiser) -> None:
    record = config.get("denoiser")
    if not isinstance(record, dict):
        raise ValueError(f"{Path(path) / 'config.json'} has no 'denoiser' record: it cannot show "
                         f"which denoiser the planner was trained for")
    check_compatible("planner checkpoint", path, record, vocab_size=denoiser.vocab_size,
                     mask_id=denoiser.mask_id, max_length=denoiser.max_length)
    if record.get("fingerprint") != denoiser.identity:
        raise ValueError(f"planner checkpoint at {path} was trained for the denoiser with weights "
                         f"{str(record.get('fingerprint'))[:12]}..., but this denoiser's are "
                         f"{denoiser.identity[:12]}...: it was trained for another denoiser")


def save_posterior(path: str | Path, posterior: PosteriorNet, net_kwargs: dict,
                   denoiser: FrozenDenoiser, extra: dict | None = None) -> None:
    save_network(path, POSTERIOR_TYPE, "posterior", net_kwargs, posterior.state_dict(), denoiser,
                 extra)


def load_posterior(path: str | Path, denoiser: FrozenDenoiser | None = None
                   ) -> tuple[PosteriorNet, dict]:
    """The posterior saved by `save_posterior`; with `denoiser`, refuse one trained for another."""
    config, state = read_network(path, POSTERIOR_TYPE, "a planner's posterior")
    if denoiser is not None:
        check_planner_for(config, path, denoiser)
    posterior = PosteriorNet(**config["posterior"])
    posterior.load_state_dict(state)
    posterior.eval()
    return posterior, config
