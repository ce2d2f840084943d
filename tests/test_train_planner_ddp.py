"""Data-parallel planner training: 2 processes under torchrun (gloo, CPU) end where one process
ends on the same global batch.

"The same global batch" means: the same 4 sequences and prices per step, cut into the same 2
halves, each half's random draws (the guide's subsets) from its own stream. The reference is
one process with `train.shards=2`, which sums the two halves' gradients; under torchrun each
process runs one half and DistributedDataParallel averages the gradients. Since the streams
follow the halves, not the processes, the two must give the same parameters after 3 Adam
steps (experiments/data_parallel.py). A 2-process run stopped at step 2 and resumed from its
checkpoint must end there too.
"""
import subprocess

import torch
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

TINY = ["task=alternation", "denoiser=alternation", "val_path=validation", "train.batch_size=4",
        "train.log_every=1", "train.ckpt_every=2", "train.eval_every=1000",
        "train.grad_var_every=2", "train.grad_var_draws=2", "train.val_limit=4",
        "train.threads=1", "train.givens_min=null", "train.givens_max=null",
        "train.denoiser_bf16=false", "planner.d_model=8", "planner.n_layers=1",
        "planner.n_heads=2"]


def train(python_exe, env, run_dir, *extra, processes=1):
    launcher = ([python_exe, "-m", "torch.distributed.run", "--standalone",
                 f"--nproc_per_node={processes}"] if processes > 1 else [python_exe])
    cmd = [*launcher, "-m", "experiments.train_planner", *TINY, f"hydra.run.dir={run_dir}", *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def planner(run_dir):
    return load_file(str(run_dir / "planner" / "model.safetensors"))


def losses(run_dir):
    (events,) = (run_dir / "tb").glob("events.out.tfevents.*")   # rank 0's writer only
    acc = EventAccumulator(str(events))
    acc.Reload()
    return [e.value for e in acc.Scalars("train/loss")]


def test_two_gloo_processes_match_one_process_on_the_same_global_batch(
        tmp_path, python_exe, python_env):
    single, ddp, resumed = tmp_path / "single", tmp_path / "ddp", tmp_path / "resumed"
    out = train(python_exe, python_env, single, "train.steps=3", "train.shards=2")
    assert "2 shard(s) over 1 process(es)" in out
    out = train(python_exe, python_env, ddp, "train.steps=3", processes=2)
    assert "2 shard(s) over 2 process(es)" in out

    a, b = planner(single), planner(ddp)
    assert set(a) == set(b)
    for name in a:
        assert torch.allclose(a[name], b[name], rtol=0, atol=1e-6), name
    assert losses(single) == losses(ddp) and len(losses(ddp)) == 3

    train(python_exe, python_env, resumed, "train.steps=2", processes=2)
    out = train(python_exe, python_env, resumed, "train.steps=3", "resume=true", processes=2)
    assert "resumed from" in out and "at step 2" in out
    c = planner(resumed)
    for name in a:
        assert torch.allclose(a[name], c[name], rtol=0, atol=1e-6), name
