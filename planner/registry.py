"""Policies by config name: `experiments/configs/policy/NAME.yaml`, instantiated by Hydra."""
from __future__ import annotations

from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from .policy import Policy

POLICY_CONFIG_DIR = Path(__file__).resolve().parent.parent / "experiments" / "configs" / "policy"


def policy_names() -> list[str]:
    return sorted(p.stem for p in POLICY_CONFIG_DIR.glob("*.yaml"))


def load_policy(name: str, **overrides) -> Policy:
    """Instantiate the policy config `name`, with keyword overrides of its settings."""
    path = POLICY_CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown policy {name!r}; expected one of {policy_names()}")
    # settings replace the config's values whole (a list knob may replace a single one)
    cfg = OmegaConf.create({**OmegaConf.to_container(OmegaConf.load(path)), **overrides})
    try:
        policy = instantiate(cfg, _convert_="all")
    except InstantiationException as err:
        # Hydra wraps the constructor's error; a bad knob is the policy's own error,
        # which already names the value and what was expected: raise that one.
        if isinstance(err.__cause__, (ValueError, TypeError, FileNotFoundError)):
            raise err.__cause__ from None
        raise
    if not isinstance(policy, Policy):
        raise TypeError(f"config {path} made a {type(policy).__name__}, not a Policy")
    return policy
