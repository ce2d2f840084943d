"""Where the project's data lives: the repository's own `data/` folder, or `$MDM_DATA`.

Nothing here looks outside the repository unless the user says so: `$MDM_DATA` (a folder laid
out like `data/`) is searched first when it is set, then `data/`, then the repository root and
the working directory. An absolute path is taken as it is.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
DATA_ENV = "MDM_DATA"


def data_dirs() -> list[Path]:
    """The folders a relative data path is looked up in, in order."""
    env = os.environ.get(DATA_ENV)
    return ([Path(env)] if env else []) + [DATA_DIR, REPO_ROOT, Path.cwd()]


def resolve_data_path(path: str | Path) -> Path:
    """An absolute path as is; a relative one in the first of `data_dirs()` that holds it.
    A relative path found nowhere raises FileNotFoundError naming every place tried."""
    p = Path(path)
    if p.is_absolute():
        return p
    tried = [base / p for base in data_dirs()]
    for candidate in tried:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"data path {str(path)!r} not found; tried "
                            + ", ".join(str(t) for t in tried)
                            + f" (set ${DATA_ENV} to a data folder, or give an absolute path)")
