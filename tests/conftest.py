import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SHIPPED_SUDOKU = REPO / "weights" / "sudoku-mdm"

# Two cores: keep each test process to one thread so parallel work stays predictable.
torch.set_num_threads(1)


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data folder is missing: expected {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def python_env() -> dict:
    """Environment for subprocess runs of the entry points."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture
def python_exe() -> str:
    return sys.executable


def kill_at_first_checkpoint(proc: subprocess.Popen, checkpoint: Path, timeout: float = 240) -> int:
    """SIGKILL a training run as soon as its first checkpoint exists; return the step it holds."""
    deadline = time.time() + timeout
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return torch.load(checkpoint, weights_only=False)["step"]


def run_module(python_exe: str, env: dict, module: str, *args: str, timeout: float = 300) -> str:
    """`python -m module args...` to completion; fails the test with its output unless it exits 0."""
    proc = subprocess.run([python_exe, "-m", module, *args], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout
