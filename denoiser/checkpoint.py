"""Checkpoint folders (`config.json` + `model.safetensors`) and atomic file writes.

Nothing is ever left half-written: files are written beside their target and moved into
place with `os.replace`; a folder is built under a temporary name and swapped in whole.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .paths import resolve_folder


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_text(text: str, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_folder(path: str | Path, config: dict, state_dict: dict[str, torch.Tensor]) -> None:
    """Write `config.json` and `model.safetensors` into `path`, atomically as a whole."""
    def write(tmp: Path) -> None:
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        save_file({k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
                  str(tmp / "model.safetensors"))
    write_folder_atomically(path, write)


def write_folder_atomically(path: str | Path, write) -> None:
    """Build a folder with `write(tmp_folder)` under a temporary name, then swap it in whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp"))
    try:
        write(tmp)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_folder(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    path = resolve_folder(path)
    cfg_file, weights = path / "config.json", path / "model.safetensors"
    if not cfg_file.is_file() or not weights.is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint folder: expected config.json and "
                                f"model.safetensors in it")
    return json.loads(cfg_file.read_text()), load_file(str(weights))


def check_compatible(what: str, path: str | Path, config: dict, **expected: Any) -> None:
    """Refuse a checkpoint whose config differs from what the caller needs."""
    for key, want in expected.items():
        if want is None:
            continue
        have = config.get(key)
        if have != want:
            raise ValueError(f"{what} at {path} has {key}={have!r}, but {want!r} was expected: "
                             f"it was trained for another task or denoiser")
