"""Planner training end to end at a tiny size: killed with SIGKILL and resumed, it ends where
an unbroken run ends; the denoiser file is untouched; the exported planner loads."""
import subprocess

import torch
from conftest import kill_at_first_checkpoint
from safetensors.torch import load_file

from denoiser import MDMConfig, MDMTransformer

TINY = ["task.pool_size=20", "train.batch_size=3", "train.steps=20", "train.log_every=1", "train.ckpt_every=2",
        "train.eval_every=1000", "train.grad_var_every=10", "train.grad_var_draws=2",
        "train.val_limit=2", "train.estimator.num_particles=2", "train.threads=1",
        "train.givens_min=70", "train.givens_max=78", "train.kl_anneal=10",
        "train.entropy_anneal=10", "planner.d_model=8", "planner.n_layers=1", "planner.n_heads=2"]


def run(python_exe, env, denoiser, run_dir, *extra, wait=True):
    cmd = [python_exe, "-m", "experiments.train_planner", *TINY, f"denoiser.path={denoiser}",
           f"hydra.run.dir={run_dir}", *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    return proc


def test_sigkill_then_resume_matches_an_unbroken_run(tmp_path, python_exe, python_env):
    denoiser = tmp_path / "denoiser"
    torch.manual_seed(0)
    MDMTransformer(MDMConfig(vocab_size=10, mask_id=0, max_length=81, d_model=16, n_layers=1,
                             n_heads=2, d_ff=32, structure="sudoku")).save_pretrained(denoiser)
    before = (denoiser / "model.safetensors").read_bytes()

    run(python_exe, python_env, denoiser, tmp_path / "straight", "export_to=" + str(tmp_path / "shipped"))
    proc = run(python_exe, python_env, denoiser, tmp_path / "killed", wait=False)
    ckpt = tmp_path / "killed" / "checkpoints" / "last.pt"
    killed_at = kill_at_first_checkpoint(proc, ckpt)
    assert 0 < killed_at < 20
    run(python_exe, python_env, denoiser, tmp_path / "killed", "resume=true")

    a = load_file(str(tmp_path / "straight" / "planner" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "planner" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (denoiser / "model.safetensors").read_bytes() == before
    assert (tmp_path / "shipped" / "config.json").is_file()
