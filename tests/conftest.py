import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
# What the project must never read: a `shared/` folder beside the checkout (a fresh clone has
# none). The audit hook below turns any open() under it, in any test, into an error.
OUTSIDE = str(REPO.parent / "shared")
SHIPPED_SUDOKU = REPO / "weights" / "sudoku-mdm"

# Two cores: keep each test process to one thread so parallel work stays predictable.
torch.set_num_threads(1)


def refuse_outside(event: str, args: tuple) -> None:
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.path.abspath(os.fsdecode(args[0]))
        if path == OUTSIDE or path.startswith(OUTSIDE + os.sep):
            raise PermissionError(f"the project read {path}, outside the repository")


sys.addaudithook(refuse_outside)
os.environ.pop("MDM_DATA", None)     # the tests read the repository's data/ folder


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"the repository's data folder is missing: expected {DATA}")
    return DATA


@pytest.fixture(scope="session")
def shared_data(data_dir) -> Path:
    """The old name of `data_dir` (the data lived in ../shared/data before issue 12), kept so
    that tests written against it still run."""
    return data_dir


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


@pytest.fixture(scope="session")
def tiny_denoiser(tmp_path_factory):
    """An untrained Sudoku MDM folder at a tiny size, for the entry points end to end."""
    from denoiser import MDMConfig, MDMTransformer

    path = tmp_path_factory.mktemp("den") / "tiny"
    torch.manual_seed(0)
    MDMTransformer(MDMConfig(vocab_size=10, mask_id=0, max_length=81, d_model=16, n_layers=1,
                             n_heads=2, d_ff=32, structure="sudoku")).save_pretrained(path)
    return path
