"""Where the shared public data lives: `$MDM_SHARED_DATA`, else `../shared/data` beside the repo."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    env = os.environ.get("MDM_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def resolve_data_path(path: str | Path) -> Path:
    """An absolute path as is; a relative one against the shared data folder if it exists
    there, else against the repository root."""
    p = Path(path)
    if p.is_absolute():
        return p
    for base in (shared_data_dir(), REPO_ROOT, Path.cwd()):
        if (base / p).exists():
            return base / p
    return shared_data_dir() / p
