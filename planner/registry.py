"""Policies by name: `load_policy(name, **knobs)`, `policy_names()`.

Two kinds of entry, both filled from above so that this package knows no upper layer:

- `register_policy(name, factory, **defaults)`: a class (or any callable returning a Policy)
  and the knob values it starts from. The heuristics in `planner/policies/` are registered
  here on first use (`planner/policies/builtin.py`); other packages register their own when
  imported (`import vi` registers `learned`).
- `register_policy_configs(folder)`: a folder of Hydra configs `NAME.yaml` (a `_target_` and
  its knobs). The entry points register `experiments/configs/policy/`, so `policy=NAME` and
  `load_policy(NAME)` read the same file. A config is preferred over a registered factory of
  the same name; `tests/test_policy_registry.py` checks that the two agree.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from .policy import Policy

_FACTORIES: dict[str, tuple[Callable[..., Policy], dict]] = {}
_CONFIG_DIRS: list[Path] = []
_BUILTINS_LOADED = False


def register_policy(name: str, factory: Callable[..., Policy], **defaults) -> None:
    """Make `load_policy(name, **knobs)` return `factory(**{**defaults, **knobs})`."""
    if not name.isidentifier():
        raise ValueError(f"a policy name must be an identifier, got {name!r}")
    if not callable(factory):
        raise TypeError(f"policy {name!r}: factory must be callable, got {type(factory).__name__}")
    _FACTORIES[name] = (factory, dict(defaults))


def register_policy_configs(folder: str | Path) -> None:
    """Read policies from the `NAME.yaml` Hydra configs in `folder` (first registered wins)."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"no policy config folder at {folder}")
    if folder not in _CONFIG_DIRS:
        _CONFIG_DIRS.append(folder)


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if not _BUILTINS_LOADED:
        _BUILTINS_LOADED = True
        from .policies import builtin  # noqa: F401  (registers the heuristics)


def _config_file(name: str) -> Path | None:
    return next((d / f"{name}.yaml" for d in _CONFIG_DIRS if (d / f"{name}.yaml").is_file()), None)


def policy_names() -> list[str]:
    _load_builtins()
    return sorted(set(_FACTORIES) | {p.stem for d in _CONFIG_DIRS for p in d.glob("*.yaml")})


def _reraise_own_error(err: Exception) -> None:
    # Hydra wraps the constructor's error; a bad knob is the policy's own error, which already
    # names the value and what was expected: raise that one.
    if isinstance(err.__cause__, (ValueError, TypeError, FileNotFoundError)):
        raise err.__cause__ from None


def load_policy(name: str, **overrides) -> Policy:
    """The policy `name` with keyword overrides of its knobs."""
    _load_builtins()
    path = _config_file(name)
    if path is not None:
        # settings replace the config's values whole (a list knob may replace a single one)
        cfg = OmegaConf.create({**OmegaConf.to_container(OmegaConf.load(path)), **overrides})
        try:
            policy = instantiate(cfg, _convert_="all")
        except InstantiationException as err:
            _reraise_own_error(err)
            raise
        made_by = f"config {path}"
    elif name in _FACTORIES:
        factory, defaults = _FACTORIES[name]
        policy = factory(**{**defaults, **overrides})
        made_by = f"the factory registered as {name!r}"
    else:
        raise ValueError(f"unknown policy {name!r}; expected one of {policy_names()} (a package "
                         f"outside planner registers its policies when imported: `import vi` "
                         f"for 'learned')")
    if not isinstance(policy, Policy):
        raise TypeError(f"{made_by} made a {type(policy).__name__}, not a Policy")
    return policy


def policy_parameters(name: str) -> set[str]:
    """The knob names the policy `name`'s constructor takes (its config's `_target_`, or its
    registered factory), so a caller can pass a knob such as `block_length` only where it
    applies (`planner.generate`)."""
    import inspect

    from hydra.utils import get_method

    _load_builtins()
    path = _config_file(name)
    if path is not None:
        target = get_method(str(OmegaConf.load(path)["_target_"]))
    elif name in _FACTORIES:
        target = _FACTORIES[name][0]
    else:
        raise ValueError(f"unknown policy {name!r}; expected one of {policy_names()}")
    params = inspect.signature(target).parameters.values()
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
