"""Hydra entry points, configs, the comparison harness and benchmarks.

Importing the package registers the `${repo:PATH}` resolver: PATH relative to the repository
root, so configs name shipped weights and data independently of the working directory; and
registers the policy configs (`configs/policy/`) and the learned planner (`import vi`) in the
planner's registry, so `policy=NAME` and `load_policy(NAME)` agree in every entry point.
"""
from pathlib import Path

from omegaconf import OmegaConf

import vi  # noqa: F401  (registers the policy `learned`)
from planner.registry import register_policy_configs
from tasks.paths import REPO_ROOT, resolve_data_path

POLICY_CONFIGS = Path(__file__).resolve().parent / "configs" / "policy"
register_policy_configs(POLICY_CONFIGS)

if not OmegaConf.has_resolver("repo"):
    OmegaConf.register_new_resolver("repo", lambda p: str(REPO_ROOT / p))
if not OmegaConf.has_resolver("data"):
    OmegaConf.register_new_resolver("data", lambda p: str(resolve_data_path(p)))
