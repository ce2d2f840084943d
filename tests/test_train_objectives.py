"""The peers' objectives through `python -m experiments.train_planner` at a tiny size: each
trains, stops at its budget of denoiser calls, exports a planner folder that loads as
`policy=learned`, and LO-ARM refuses a planner config of the Bernoulli family."""
import json
import subprocess

import pytest
import torch
from conftest import run_module

import planner
import vi  # noqa: F401  (registers `learned`)
from denoiser import MDMConfig, MDMTransformer, load_denoiser

COMMON = ["task.pool_size=20", "train.steps=40", "train.log_every=1", "train.ckpt_every=2", "train.eval_every=1000",
          "train.grad_var_every=1000", "train.val_limit=2", "train.threads=1",
          "train.givens_min=70", "train.givens_max=78", "planner.d_model=8", "planner.n_layers=1",
          "planner.n_heads=2", "train.max_denoiser_calls=60"]
OBJECTIVES = {
    "grpo": ["train=planner_grpo", "train.batch_size=2", "train.estimator.group=3"],
    "imitation": ["train=planner_imitation", "train.batch_size=3"],
    "loarm": ["train=planner_loarm", "planner=sudoku_factor_singleton", "train.batch_size=2"],
}


@pytest.fixture(scope="module")
def tiny_denoiser(tmp_path_factory):
    folder = tmp_path_factory.mktemp("denoiser")
    torch.manual_seed(0)
    MDMTransformer(MDMConfig(vocab_size=10, mask_id=0, max_length=81, d_model=16, n_layers=1,
                             n_heads=2, d_ff=32, structure="sudoku")).save_pretrained(folder)
    return folder


@pytest.mark.parametrize("name", list(OBJECTIVES))
def test_objective_trains_to_its_budget_and_ships(name, tiny_denoiser, tmp_path, python_exe,
                                                 python_env):
    out = run_module(python_exe, python_env, "experiments.train_planner", *COMMON,
                     *OBJECTIVES[name], f"denoiser.path={tiny_denoiser}",
                     f"hydra.run.dir={tmp_path / 'run'}", f"export_to={tmp_path / 'shipped'}")
    calls = [int(line.split(" calls ")[1].split()[0].replace(",", ""))
             for line in out.splitlines() if " calls " in line]
    assert calls and calls[-1] >= 60 and all(c < 60 for c in calls[:-1]), out   # the budget
    config = json.loads((tmp_path / "shipped" / "config.json").read_text())
    assert config["trained"]["steps"] < 40                                      # stopped by it
    assert (tmp_path / "shipped" / "posterior").is_dir() == (name == "loarm")  # only VI has Q
    policy = planner.load_policy("learned", path=str(tmp_path / "shipped"))
    frozen = load_denoiser(tiny_denoiser)
    prompts = torch.zeros(2, 81, dtype=torch.long)
    prompts[:, :75] = torch.randint(1, 10, (2, 75), generator=torch.Generator().manual_seed(0))
    result = planner.sample(frozen, policy, prompts)
    assert (result.tokens != 0).all()
    if name == "loarm":   # one cell per step
        assert (result.nfe == 6).all()


def test_loarm_refuses_a_bernoulli_planner_config(tiny_denoiser, tmp_path, python_exe, python_env):
    proc = subprocess.run([python_exe, "-m", "experiments.train_planner", *COMMON,
                           "train=planner_loarm", f"denoiser.path={tiny_denoiser}",
                           f"hydra.run.dir={tmp_path / 'run'}"], env=python_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "trains the 'singleton' subset family, but the planner config has " \
           "family='bernoulli'" in proc.stdout + proc.stderr
