"""Run folders and settings (`experiments/run_folder.py`, `experiments/settings.py`,
`experiments/checkpointing.py`), in-process: the entry points run in tests/test_smoke.py."""
from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from experiments.checkpointing import RunCheckpoint
from experiments.run_folder import check_common, exclusive, run_folder, settings_of
from experiments.settings import DenoiserTrainSettings, EvalSettings, PlannerTrainSettings
from tasks.paths import DATA_DIR, resolve_data_path

from conftest import REPO


@pytest.fixture(autouse=True)
def no_hydra_config_left():
    yield
    HydraConfig.instance().cfg = None


def composed(name, run_dir, *overrides):
    with initialize_config_dir(str(REPO / "experiments" / "configs"), version_base=None):
        cfg = compose(name, overrides=[*overrides, f"hydra.run.dir={run_dir}"],
                      return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


@pytest.mark.parametrize("overrides,message", [
    (["seed=abc"], r"seed must be an integer, got 'abc'"),
    (["data.limit=abc"], r"data.limit must be a positive integer or null \(all\), got 'abc'"),
    (["data.limit=0"], r"data.limit must be a positive integer or null \(all\), got 0"),
])
def test_shared_keys_are_checked(tmp_path, overrides, message):
    cfg = composed("evaluate", tmp_path, *overrides)
    with pytest.raises(ValueError, match=message):
        check_common(cfg)


@pytest.mark.parametrize("make,message", [
    (lambda: DenoiserTrainSettings(lr=-1), r"train.lr must be a finite number > 0, got -1"),
    (lambda: DenoiserTrainSettings(lr=float("nan")), r"train.lr must be a finite number > 0, got nan"),
    (lambda: PlannerTrainSettings(lr=-1), r"train.lr must be a finite number > 0, got -1"),
    (lambda: PlannerTrainSettings(lr=0.0), r"train.lr must be a finite number > 0, got 0.0"),
    (lambda: PlannerTrainSettings(steps="abc"), r"train.steps must be an integer >= 1, got 'abc'"),
    (lambda: EvalSettings(temperature=float("nan")), r"eval.temperature must be a finite number >= 0, got nan"),
    (lambda: EvalSettings(temperature=float("inf")), r"eval.temperature must be a finite number >= 0, got inf"),
    (lambda: EvalSettings(device="gpu0"), r"eval.device must be a torch device such as 'cpu' or 'cuda', got 'gpu0'"),
])
def test_settings_out_of_range(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda():
    with pytest.raises(ValueError, match=r"eval.device='cuda', but (this torch build has no CUDA "
                                         r"support|no CUDA GPU is visible).*use eval.device=cpu"):
        EvalSettings(device="cuda")


def test_a_folder_holding_a_run_is_refused_and_keeps_its_config(tmp_path):
    cfg = composed("evaluate", tmp_path, "data.limit=7")
    hydra_dir = tmp_path / ".hydra"
    hydra_dir.mkdir()
    (hydra_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    with run_folder(cfg, holds=("results.json",)) as run_dir:
        (run_dir / "results.json").write_text("{}")
    cfg2 = composed("evaluate", tmp_path, "data.limit=9")
    (hydra_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg2))   # as Hydra does at start
    with pytest.raises(RuntimeError, match=f"the run folder {tmp_path} already holds a run "
                                           r"\(results.json\).*nothing was overwritten"):
        with run_folder(cfg2, holds=("results.json",)):
            pass
    assert OmegaConf.load(hydra_dir / "config.yaml").data.limit == 7


def test_training_folder_without_resume_names_resume(tmp_path):
    cfg = composed("train_planner", tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.pt").write_bytes(b"")
    with pytest.raises(RuntimeError, match=r"holds a run \(checkpoints/last.pt\): pass resume=true"):
        with run_folder(cfg, holds=("checkpoints/last.pt", "planner")):
            pass


def test_a_folder_in_use_is_refused(tmp_path):
    with exclusive(tmp_path):
        with pytest.raises(RuntimeError, match=f"another run is using the run folder {tmp_path}"):
            with exclusive(tmp_path):
                pass
    with exclusive(tmp_path):     # released at the end of a run
        pass


def test_resume_with_changed_settings_is_refused(tmp_path):
    cfg = composed("train_planner", tmp_path)
    free = ("resume", "train.steps")
    first = RunCheckpoint(tmp_path, settings_of(cfg, free), "python -m x a=1")
    first.save(3, torch.Generator(), {})
    changed = composed("train_planner", tmp_path, "train.lr=0.01", "train.batch_size=4", "train.steps=9")
    with pytest.raises(ValueError, match=r"these settings differ .*train.batch_size: 32 in the "
                                         r"checkpoint, 4 now; train.lr: 0.003 in the checkpoint, 0.01 now"):
        RunCheckpoint(tmp_path, settings_of(changed, free)).restore(True, torch.Generator())
    longer = composed("train_planner", tmp_path, "train.steps=9", "resume=true")
    again = RunCheckpoint(tmp_path, settings_of(longer, free), "python -m x resume=true")
    step, _ = again.restore(True, torch.Generator())
    assert step == 3 and again.commands == ["python -m x a=1", "python -m x resume=true"]


def test_relative_data_path_in_two_places_is_refused(tmp_path, monkeypatch, shared_data):
    (tmp_path / "sudoku").mkdir()
    (tmp_path / "sudoku" / "rrn_style_valid_18000.csv").write_text("puzzle,solution\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"the relative data path 'sudoku/rrn_style_valid_18000.csv' "
                                         r"names 2 different files: .* and .*pass the absolute path"):
        resolve_data_path("sudoku/rrn_style_valid_18000.csv")
    # a copy of the same file in the working directory is the same data: no refusal
    same = (DATA_DIR / "sudoku" / "ye2024_sudoku_test_1000.csv").read_bytes()
    (tmp_path / "sudoku" / "ye2024_sudoku_test_1000.csv").write_bytes(same)
    assert resolve_data_path("sudoku/ye2024_sudoku_test_1000.csv").read_bytes() == same
