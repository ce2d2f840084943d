"""Policies by name: the registry filled from above (planner/registry.py)."""
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

import planner
from experiments import POLICY_CONFIGS
from planner.policies.builtin import BUILTIN
from planner.registry import _FACTORIES
from vi.learned_policy import Learned


def factory_result(name):
    factory, defaults = _FACTORIES[name]
    return factory(**defaults)


@pytest.mark.parametrize("path", sorted(POLICY_CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_config_agrees_with_its_registered_factory(path):
    """`policy=NAME` (the config) and `planner.load_policy(NAME)` without experiments (the
    factory) must make the same policy: same class, same knobs."""
    name = path.stem
    planner.policy_names()     # loads the built-in registrations
    assert name in _FACTORIES, (f"{path} has no registered factory: add it to "
                                f"planner/policies/builtin.py (or register it from its package)")
    from_config = instantiate(OmegaConf.load(path), _convert_="all")
    from_factory = factory_result(name)
    assert type(from_config) is type(from_factory)
    assert repr(from_config) == repr(from_factory)
    assert vars(from_config).keys() == vars(from_factory).keys()


def test_the_builtins_and_learned_are_listed():
    assert set(planner.policy_names()) >= set(BUILTIN) | {"learned"}
    assert isinstance(planner.load_policy("learned", threshold=0.3), Learned)


def test_an_upper_layer_registers_a_policy_by_name(monkeypatch):
    monkeypatch.setitem(_FACTORIES, "my_margin", None)
    planner.register_policy("my_margin", BUILTIN["topk_margin"], steps=4)
    policy = planner.load_policy("my_margin")
    assert repr(policy) == repr(BUILTIN["topk_margin"](steps=4))
    assert "my_margin" in planner.policy_names()


def test_bad_names_and_factories_are_refused():
    with pytest.raises(ValueError, match=r"unknown policy 'nope'; expected one of \[.*'topk_margin'"):
        planner.load_policy("nope")
    with pytest.raises(ValueError, match="identifier, got 'a b'"):
        planner.register_policy("a b", BUILTIN["eb"])
    with pytest.raises(TypeError, match="factory must be callable, got int"):
        planner.register_policy("ok", 3)
    with pytest.raises(FileNotFoundError, match="no policy config folder"):
        planner.register_policy_configs("/nonexistent/folder")
