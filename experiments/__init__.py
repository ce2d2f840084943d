"""Hydra entry points, configs, the comparison harness and benchmarks.

Importing the package registers the `${repo:PATH}` resolver: PATH relative to the repository
root, so configs name shipped weights and data independently of the working directory.
"""
from omegaconf import OmegaConf

from tasks.paths import REPO_ROOT, resolve_data_path

if not OmegaConf.has_resolver("repo"):
    OmegaConf.register_new_resolver("repo", lambda p: str(REPO_ROOT / p))
if not OmegaConf.has_resolver("data"):
    OmegaConf.register_new_resolver("data", lambda p: str(resolve_data_path(p)))
