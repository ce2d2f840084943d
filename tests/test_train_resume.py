"""Training end to end at a tiny size, killed with SIGKILL and resumed."""
import subprocess

import torch
from conftest import kill_at_first_checkpoint
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from denoiser import MDMTransformer

TINY = ["task=sudoku", "task.pool_size=20", "task.val_limit=4", "denoiser.d_model=16",
        "denoiser.n_layers=1", "denoiser.n_heads=2", "denoiser.d_ff=32", "train.batch_size=8",
        "train.steps=400", "train.log_every=1", "train.ckpt_every=5", "train.eval_every=1000",
        "train.val_grids=8", "train.warmup=5", "train.bf16=false", "train.threads=1"]


def run(python_exe, env, run_dir, *extra, wait=True):
    cmd = [python_exe, "-m", "experiments.train_denoiser", *TINY, f"hydra.run.dir={run_dir}", *extra]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    return proc


def losses(run_dir):
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    return {e.step: e.value for e in acc.Scalars("train/loss")}


def test_sigkill_then_resume_continues_the_same_run(tmp_path, python_exe, python_env, repo_root):
    python_env = {**python_env, "PYTHONPATH": str(repo_root)}
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    run(python_exe, python_env, straight)

    proc = run(python_exe, python_env, killed, wait=False)
    ckpt = killed / "checkpoints" / "last.pt"
    killed_at = kill_at_first_checkpoint(proc, ckpt)
    assert 0 < killed_at < 400, "the run must be killed part-way"
    assert not (killed / "model").exists()

    run(python_exe, python_env, killed, "resume=true")
    a = MDMTransformer.from_pretrained(straight / "model").state_dict()
    b = MDMTransformer.from_pretrained(killed / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from an unbroken run"
    la, lb = losses(straight), losses(killed)
    assert sorted(lb) == list(range(1, 401))          # one point per step, none duplicated
    assert all(abs(la[s] - lb[s]) < 1e-6 for s in la)
    assert not list(killed.glob("checkpoints/.*tmp"))  # no half-written checkpoint left


def test_export_best_ships_the_validation_point_of_lowest_loss(tmp_path, python_exe, python_env,
                                                               repo_root):
    """train.export=best: <run dir>/best holds the lowest val/loss seen (resumed or not), and
    export_to receives it rather than the last step."""
    python_env = {**python_env, "PYTHONPATH": str(repo_root)}
    run_dir, shipped = tmp_path / "run", tmp_path / "shipped"
    run(python_exe, python_env, run_dir, "train.steps=12", "train.eval_every=2", "train.lr=0.3",
        "train.export=best", f"export_to={shipped}")
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    val = {e.step: e.value for e in acc.Scalars("val/loss")}
    assert sorted(val) == [2, 4, 6, 8, 10, 12]
    best_step = min(val, key=val.get)
    assert (run_dir / "best_step.txt").read_text().split()[1] == str(best_step)
    a = MDMTransformer.from_pretrained(shipped).state_dict()
    b = MDMTransformer.from_pretrained(run_dir / "best").state_dict()
    last = MDMTransformer.from_pretrained(run_dir / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (best_step == 12) == all(torch.equal(a[k], last[k]) for k in a)


def test_a_bad_export_choice_is_refused(tmp_path, python_exe, python_env, repo_root):
    python_env = {**python_env, "PYTHONPATH": str(repo_root)}
    proc = run(python_exe, python_env, tmp_path / "run", "train.export=final", wait=False)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "train.export must be 'last' or 'best', got 'final'" in out
