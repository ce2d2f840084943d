"""Crash-safe exports (`denoiser/atomic.py`): a swap killed between its two renames leaves a
loadable folder, stale temporaries are removed at the next start, modes follow the umask."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap

import matplotlib.pyplot as plt
import pytest
import torch

from denoiser.atomic import atomic_write_text, old_folder, recover_folder, write_folder_atomically
from denoiser.checkpoint import load_folder, save_folder
from experiments.report import save_figure


def folder(path, value):
    save_folder(path, {"value": value}, {"w": torch.full((2,), float(value))})


def kill_between_renames(path, value, env):
    """A process that writes `path` and is SIGKILLed after the old folder is moved aside and
    before the new one is moved in."""
    code = textwrap.dedent(f"""
        import os, signal, torch
        from denoiser.atomic import write_folder_atomically
        def write(tmp):
            (tmp / "config.json").write_text('{{"value": {value}}}')
            from safetensors.torch import save_file
            save_file({{"w": torch.full((2,), {value}.0)}}, str(tmp / "model.safetensors"))
        write_folder_atomically({str(path)!r}, write,
                                _between_renames=lambda: os.kill(os.getpid(), signal.SIGKILL))
    """)
    proc = subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    assert proc.returncode == -9


def test_swap_killed_between_the_renames_leaves_a_loadable_folder(tmp_path, python_env):
    path = tmp_path / "planner"
    folder(path, 1)
    kill_between_renames(path, 2, python_env)
    assert not path.exists() and old_folder(path).is_dir()   # the worst moment of the swap
    assert len(list(tmp_path.glob(".planner.*.tmp"))) == 1    # the killed writer's temporary
    config, state = load_folder(path)                         # the previous folder comes back
    assert config == {"value": 1} and torch.equal(state["w"], torch.ones(2))
    assert not old_folder(path).exists()
    assert not list(tmp_path.glob(".planner.*.tmp"))          # the dead writer's temp is gone
    folder(path, 3)
    assert load_folder(path)[0] == {"value": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["planner"]


def test_next_write_recovers_too(tmp_path, python_env):
    path = tmp_path / "model"
    folder(path, 1)
    kill_between_renames(path, 2, python_env)
    folder(path, 4)
    assert load_folder(path)[0] == {"value": 4}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_exception_between_the_renames_restores_the_old_folder(tmp_path):
    path = tmp_path / "planner"
    folder(path, 1)

    def boom():
        raise OSError("disk full")
    with pytest.raises(OSError, match="disk full"):
        write_folder_atomically(path, lambda tmp: (tmp / "config.json").write_text("{}"),
                                _between_renames=boom)
    assert load_folder(path)[0] == {"value": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["planner"]


def test_finished_swap_with_a_leftover_old_copy(tmp_path):
    path = tmp_path / "planner"
    folder(path, 1)
    old_folder(path).mkdir()
    recover_folder(path)
    assert not old_folder(path).exists() and load_folder(path)[0] == {"value": 1}


def test_stale_temp_file_of_a_dead_writer_is_removed(tmp_path):
    target = tmp_path / "results.json"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".results.json.{dead}-0123abcd.tmp"
    stale.write_text("half")
    mine = tmp_path / f".results.json.{os.getpid()}-0123abcd.tmp"   # a live writer's: kept
    mine.write_text("in progress")
    atomic_write_text("{}", target)
    assert not stale.exists() and mine.exists() and target.read_text() == "{}"


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_modes_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        atomic_write_text("x", tmp_path / "a.txt")
        folder(tmp_path / "planner", 1)
        fig = plt.figure()
        save_figure(fig, tmp_path / "plot.png")
    finally:
        os.umask(old)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)     # noqa: E731
    for f in (tmp_path / "a.txt", tmp_path / "plot.png", tmp_path / "planner" / "config.json",
              tmp_path / "planner" / "model.safetensors"):
        assert mode(f) == 0o666 & ~umask, f
    assert mode(tmp_path / "planner") == 0o777 & ~umask


def test_save_figure_writes_a_png_through_a_unique_temp(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        return real(src, dst)
    monkeypatch.setattr(os, "replace", spy)
    for _ in range(2):
        save_figure(plt.figure(), tmp_path / "pareto.png")
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(set(seen)) == 2 and all(s.startswith(".pareto.png.") for s in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pareto.png"]


def test_files_are_fsynced(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    folder(tmp_path / "planner", 1)
    atomic_write_text("x", tmp_path / "a.txt")
    assert len(synced) >= 2 + 1 + 1 + 1 + 1   # two files, their folder, the parent; a file, its folder
