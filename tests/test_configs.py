"""Every config composes, and every component config instantiates."""
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

import experiments  # noqa: F401  (registers the ${repo:} and ${data:} resolvers)
from planner import Policy, policy_names

CONFIGS = Path(experiments.__file__).parent / "configs"
ENTRY_POINTS = sorted(p.stem for p in CONFIGS.glob("*.yaml"))
# Entry points that read TensorBoard runs, not a task's data.
TASK_FREE = {"curves"}


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_point_configs_compose(name):
    with initialize_config_dir(str(CONFIGS), version_base=None):
        cfg = compose(config_name=name)
    OmegaConf.to_container(cfg, resolve=False)
    assert ("task" in cfg) != (name in TASK_FREE), (
        f"{name}.yaml: a task is expected exactly when the entry point is not in {sorted(TASK_FREE)}")


@pytest.mark.parametrize("name", policy_names())
def test_every_policy_config_instantiates(name):
    with initialize_config_dir(str(CONFIGS), version_base=None):
        cfg = compose(config_name="evaluate", overrides=[f"policy={name}"])
    assert isinstance(instantiate(cfg.policy, _convert_="all"), Policy)


@pytest.mark.parametrize("group", ["task", "train", "eval", "logger", "objective"])
def test_every_component_config_instantiates(group, tmp_path):
    for option in group_options(group):
        target = OmegaConf.load(CONFIGS / group / f"{option}.yaml")
        assert "_target_" in target, f"{group}/{option}.yaml names no _target_"
        obj = instantiate(target)
        if group == "logger":
            obj(run_dir=tmp_path).close()


def test_every_yaml_names_its_class():
    for path in CONFIGS.glob("*/*.yaml"):
        if path.parent.name in ("experiment",):
            continue
        assert "_target_" in OmegaConf.load(path), f"{path} has no _target_"


@pytest.mark.parametrize("task", ["sudoku", "addition", "alternation", "text"])
def test_denoiser_architecture_config_builds_for_the_task(task):
    from denoiser import MDMConfig, MDMTransformer
    t = instantiate(OmegaConf.load(CONFIGS / "task" / f"{task}.yaml"))
    cfg = instantiate(OmegaConf.load(CONFIGS / "denoiser" / f"mdm_{task}.yaml"),
                      vocab_size=t.vocab_size, mask_id=t.mask_id, max_length=t.length,
                      structure=t.structure)
    assert isinstance(cfg, MDMConfig)
    assert MDMTransformer(cfg).num_parameters() > 0
