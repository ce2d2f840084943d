"""The remasking samplers through the entry points: the trajectory picture, failures'
fixed / broke counts, and a comparison row (tiny denoiser, as subprocesses)."""
import json

import pytest

from conftest import run_module


def test_trajectory_draws_one_sampling_run(tmp_path, python_exe, python_env, tiny_denoiser):
    out = run_module(python_exe, python_env, "experiments.trajectory", "policy=backtrack",
                     "policy.max_nfe=12", "policy.inner=[factor]", "policy.inner_knobs=[{f:100}]", f"denoiser.path={tiny_denoiser}", "data.index=2",
                     f"hydra.run.dir={tmp_path}")
    assert (tmp_path / "trajectory.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((tmp_path / "trajectory.json").read_text())
    assert record["index"] == 2 and record["nfe"] <= 12 and len(record["steps"]) == record["nfe"]
    assert record["solved"] in (True, False) and len(record["rewrites"]) == 81
    # the factor rule at f=100 fills the board in one call; an untrained denoiser's board
    # fails verification, so the sampler went back at least once
    assert sum(record["rewrites"]) > 0 and "picture:" in out


def test_trajectory_refuses_a_row_past_the_file(tmp_path, python_exe, python_env, tiny_denoiser):
    import subprocess
    proc = subprocess.run([python_exe, "-m", "experiments.trajectory", "data.index=-1",
                           f"denoiser.path={tiny_denoiser}", f"hydra.run.dir={tmp_path}"],
                          env=python_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "data.index must be a row number >= 0, got -1" in proc.stderr


def test_failures_counts_what_a_remasking_row_fixed(tmp_path, python_exe, python_env, tiny_denoiser):
    sweep = ("sweep=[{policy:topk_margin},{policy:p2,knob:steps,values:[20]},"
             "{policy:backtrack,knob:max_nfe,values:[30]}]")
    run_module(python_exe, python_env, "experiments.failures", f"denoiser.path={tiny_denoiser}",
               "data.limit=4", sweep, f"hydra.run.dir={tmp_path}")
    result = json.loads((tmp_path / "failures.json").read_text())
    base = result["rows"][0]
    assert "fixed" not in base
    for row in result["rows"][1:]:
        assert row["fixed"] >= 0 and row["broke"] >= 0
        assert row["accuracy"] - base["accuracy"] == pytest.approx((row["fixed"] - row["broke"]) / 4)
    assert "| fixed | broke |" in (tmp_path / "failures.md").read_text()
