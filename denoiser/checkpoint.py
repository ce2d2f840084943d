"""Checkpoint folders (`config.json` + `model.safetensors`) and atomic file writes.

Nothing is ever left half-written (`denoiser/atomic.py`); a file that cannot be read gives an
error naming it and what was expected.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .atomic import (atomic_torch_save, atomic_write_text, recover_folder,  # noqa: F401
                     write_folder_atomically)
from .paths import resolve_folder


def save_folder(path: str | Path, config: dict, state_dict: dict[str, torch.Tensor]) -> None:
    """Write `config.json` and `model.safetensors` into `path`, atomically as a whole."""
    def write(tmp: Path) -> None:
        (tmp / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        save_file({k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
                  str(tmp / "model.safetensors"))
    write_folder_atomically(path, write)


def read_json(path: str | Path, what: str = "config.json") -> dict:
    """A JSON object from `path`, or a ValueError naming the file, line and column."""
    path = Path(path)
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}): expected "
                         f"a JSON {what}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e.msg} at line {e.lineno} column "
                         f"{e.colno}; expected a JSON {what}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a JSON {type(value).__name__}; expected an object ({what})")
    return value


def check_safetensors(path: str | Path) -> None:
    """Read only the header of a safetensors file and check that the file holds every byte
    it announces; a ValueError naming the file otherwise (a truncated copy, another format)."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        header = f.read(n) if 0 < n <= size - 8 else b""
    try:
        tensors = json.loads(header)
        end = max((int(t["data_offsets"][1]) for k, t in tensors.items() if k != "__metadata__"),
                  default=0)
    except (ValueError, KeyError, TypeError, IndexError):
        raise ValueError(f"{path} ({size} bytes) is not a safetensors file: its header cannot be "
                         f"read; was it truncated, or written by something else?") from None
    if size < 8 + n + end:
        raise ValueError(f"{path} is truncated: its header announces {8 + n + end} bytes, the "
                         f"file has {size}")


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, or a ValueError naming it (truncated, not one)."""
    check_safetensors(path)
    try:
        return load_file(str(path))
    except Exception as e:          # safetensors raises its own SafetensorError, or OSError
        size = Path(path).stat().st_size if Path(path).exists() else 0
        raise ValueError(f"{path} ({size} bytes) cannot be read as a safetensors file: {e}; was "
                         f"it truncated, or written by something else?") from None


def load_state(module: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """`module.load_state_dict(state)`, or a ValueError naming the folder and the tensors whose
    shapes or names disagree with the network its `config.json` describes."""
    own = module.state_dict()
    wrong = [f"{k}: {tuple(state[k].shape)} in the file, {tuple(v.shape)} from the config"
             for k, v in own.items() if k in state and state[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} tensor(s) of another shape ({'; '.join(wrong[:3])})")
        if missing:
            parts.append(f"{len(missing)} missing ({', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected ({', '.join(unexpected[:3])})")
        raise ValueError(f"{Path(path) / 'model.safetensors'} does not fit the network that "
                         f"{Path(path) / 'config.json'} describes: " + ", ".join(parts)
                         + "; the config and the weights come from different models")
    module.load_state_dict(state)


def load_folder(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    path = resolve_folder(path)
    recover_folder(path)             # an export killed mid-swap: its previous folder comes back
    cfg_file, weights = path / "config.json", path / "model.safetensors"
    if not cfg_file.is_file() or not weights.is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint folder: expected config.json and "
                                f"model.safetensors in it")
    return read_json(cfg_file), read_safetensors(weights)


def check_compatible(what: str, path: str | Path, config: dict, **expected: Any) -> None:
    """Refuse a checkpoint whose config differs from what the caller needs."""
    for key, want in expected.items():
        if want is None:
            continue
        have = config.get(key)
        if have != want:
            raise ValueError(f"{what} at {path} has {key}={have!r}, but {want!r} was expected: "
                             f"it was trained for another task or denoiser")
