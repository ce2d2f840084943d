"""What every entry point does around its work: `with run_folder(cfg, holds=...) as run_dir:`.

- checks the keys every entry point shares (`seed`, `resume`, `data.limit`), so `seed=abc`
  is refused by name instead of failing deep inside torch;
- refuses a run folder that already holds a run (one of the files `holds` names) unless
  `resume=true`, and a folder another process is running in (an flock), so runs
  never overwrite each other;
- copies everything printed (and a traceback) into Hydra's `<job name>.log` in the run folder,
  which otherwise stays empty since the entry points print rather than log.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import sys
import traceback
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_common(cfg: DictConfig) -> None:
    """The shared keys, with errors that name the key, the value and what was expected."""
    if "seed" in cfg and not _is_int(cfg.seed):
        raise ValueError(f"seed must be an integer, got {cfg.seed!r}")
    if "resume" in cfg and not isinstance(cfg.resume, bool):
        raise ValueError(f"resume must be true or false, got {cfg.resume!r}")
    data = cfg.get("data")
    if isinstance(data, DictConfig) and "limit" in data:
        limit = data.limit
        if limit is not None and (not _is_int(limit) or limit < 1):
            raise ValueError(f"data.limit must be a positive integer or null (all), got {limit!r}")


class _Tee:
    """A text stream that writes to `stream` and to the log file."""

    def __init__(self, stream, log):
        self._stream, self._log = stream, log

    def write(self, text: str) -> int:
        self._log.write(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._log.flush()
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _log_file() -> Path | None:
    """The file Hydra's job logging writes to, if it configured one."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            return Path(handler.baseFilename)
    return None


@contextlib.contextmanager
def copied_to_log():
    path = _log_file()
    if path is None:
        yield
        return
    with open(path, "a", buffering=1, encoding="utf-8") as log:
        out, err = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(out, log), _Tee(err, log)
        try:
            yield
        except BaseException:
            log.write(traceback.format_exc())
            raise
        finally:
            sys.stdout, sys.stderr = out, err


@contextlib.contextmanager
def exclusive(run_dir: Path):
    """Hold an exclusive, non-blocking lock on the run folder for the whole run (an flock on
    `RUN_DIR/.lock`: the folder itself is what crash-safe writes into it lock)."""
    fd = os.open(run_dir / ".lock", os.O_RDONLY | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise RuntimeError(f"another run is using the run folder {run_dir}: wait for it to "
                               f"end, or choose another hydra.run.dir") from None
        yield
    finally:
        os.close(fd)          # closing the descriptor releases the lock


def check_fresh(run_dir: Path, holds: tuple[str, ...], resume: bool) -> None:
    if resume:
        return
    found = [name for name in holds if (run_dir / name).exists()]
    if found:
        hint = ("pass resume=true to continue it, or " if "checkpoints/last.pt" in holds else "")
        raise RuntimeError(f"the run folder {run_dir} already holds a run ({', '.join(found)}): "
                           f"{hint}choose another hydra.run.dir; nothing was overwritten")


def command(module: str) -> str | None:
    """This invocation as a command line; None outside a Hydra app."""
    if not HydraConfig.initialized():
        return None
    return f"python -m {module} " + " ".join(HydraConfig.get().overrides.task)


def _hydra_files(run_dir: Path) -> dict[str, bytes]:
    subdir = HydraConfig.get().output_subdir
    folder = run_dir / subdir if subdir else None
    if folder is None or not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in folder.glob("*.yaml")}


def _put_back(run_dir: Path, files: dict[str, bytes]) -> None:
    subdir = HydraConfig.get().output_subdir
    for name, data in files.items():
        (run_dir / subdir / name).write_bytes(data)


@contextlib.contextmanager
def run_folder(cfg: DictConfig, holds: tuple[str, ...] = ()):
    """Yield the run folder (Hydra's output dir) with the checks above in force.

    Hydra writes this invocation's `.hydra/*.yaml` before any code runs; a refused run puts
    back those of the run the folder holds (kept in `.hydra.kept/` when it ended), and a
    running run rewrites its own when it ends, so the folder's config is that of its run."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    kept = run_dir / ".hydra.kept"
    with copied_to_log():
        check_common(cfg)
        run_dir.mkdir(parents=True, exist_ok=True)
        if int(os.environ.get("RANK", "0")) != 0:   # torchrun: rank 0 holds the folder
            yield run_dir
            return
        mine = _hydra_files(run_dir)
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(exclusive(run_dir))
                check_fresh(run_dir, holds, bool(cfg.get("resume", False)))
            except RuntimeError:
                if kept.is_dir():
                    _put_back(run_dir, {p.name: p.read_bytes() for p in kept.glob("*.yaml")})
                raise
            try:
                yield run_dir
            finally:
                if mine:
                    _put_back(run_dir, mine)
                    kept.mkdir(exist_ok=True)
                    for name, data in mine.items():
                        (kept / name).write_bytes(data)


def settings_of(cfg: DictConfig, free: tuple[str, ...]) -> dict:
    """The resolved config less the keys that may change between a run and its resumption."""
    data = OmegaConf.to_container(cfg, resolve=True)
    for key in free:
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node.get(p, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(last, None)
    return data
