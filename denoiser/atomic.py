"""Crash-safe writes of files and whole folders.

A file is written under a temporary name beside its target, fsynced and moved into place with
`os.replace`; a folder is built under a temporary name, fsynced, and swapped in whole: the old
folder is renamed to `.NAME.old`, the new one renamed into place, then the old one removed.
A process killed between those two renames leaves `.NAME.old` and no `NAME`: the next write or
load (`recover_folder`) puts the old folder back. Temporary names (`.NAME.PID-RANDOM.tmp`) carry the writer's pid, so the
next write into the same target removes those of writers that are no longer running. Files and
folders get the modes of the user's umask (0666 / 0777 less it), as `open` and `mkdir` give.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Callable

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.tmp$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _temp_name(path: Path) -> Path:
    """`.NAME.PID-RANDOM.tmp` beside `path`: unique, and tells whose it is."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def current_umask() -> int:
    """The process umask, read without changing it where Linux shows it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def umask_modes(root: Path) -> None:
    """Give everything under `root` the modes a plain `open` / `mkdir` would: some writers
    (safetensors, mkstemp) create files 0600 whatever the umask."""
    mask = current_umask()
    for folder, dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(folder, name)
            executable = os.stat(p).st_mode & 0o100
            os.chmod(p, (0o777 if executable else 0o666) & ~mask)
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o777 & ~mask)
    os.chmod(root, 0o777 & ~mask)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    """fsync every file under `root`, then every folder, deepest first."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


@contextlib.contextmanager
def locked(folder: Path):
    """An exclusive lock on `folder` (flock on the directory itself: no lock file is left)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def remove_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files and folders of writes into `path` whose writer is gone."""
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.iterdir():
        m = _TEMP.match(entry.name)
        if m is None or m["name"] != path.name or _alive(int(m["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def old_folder(path: Path) -> Path:
    return path.with_name(f".{path.name}.old")


def _recover(path: Path) -> None:
    old = old_folder(path)
    if old.is_dir():
        if path.exists():
            shutil.rmtree(old)         # the swap had finished: only the old copy was left
        else:
            os.replace(old, path)      # killed between the renames: the old folder comes back
            fsync_dir(path.parent)
    remove_stale_temps(path)


def recover_folder(path: str | Path) -> None:
    """Finish or undo an interrupted folder swap into `path` and remove stale temporaries."""
    path = Path(path)
    if not path.parent.is_dir():
        return
    temps = (_TEMP.match(e.name) for e in path.parent.iterdir())
    if not old_folder(path).exists() and not any(m and m["name"] == path.name for m in temps):
        return
    with locked(path.parent):
        _recover(path)


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> None:
    """`write(tmp_path)` writes the file; it is fsynced and moved to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = _temp_name(path)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))   # umask applies
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(text: str, path: str | Path) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_torch_save(obj, path: str | Path) -> None:
    import torch
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def write_folder_atomically(path: str | Path, write: Callable[[Path], None],
                            _between_renames: Callable[[], None] | None = None) -> None:
    """Build a folder with `write(tmp_folder)` under a temporary name, then swap it in whole.

    `_between_renames` is a test hook, called after the old folder is moved aside and before
    the new one is moved in (where a kill is the worst case)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with locked(path.parent):
        _recover(path)
        tmp = _temp_name(path)
        os.mkdir(tmp, 0o777)                                               # umask applies
        try:
            write(tmp)
            umask_modes(tmp)
            fsync_tree(tmp)
            old = old_folder(path)
            moved = path.exists()
            if moved:
                os.replace(path, old)
            try:
                if _between_renames is not None:
                    _between_renames()
                os.replace(tmp, path)
            except BaseException:
                if moved and not path.exists():
                    os.replace(old, path)
                raise
            fsync_dir(path.parent)
            if moved:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
