"""Where the project's data lives: the repository's own `data/` folder, or `$MDM_DATA`.

Nothing here looks outside the repository unless the user says so: `$MDM_DATA` (a folder laid
out like `data/`) is searched first when it is set, then `data/`, then the repository root and
the working directory. An absolute path is taken as it is.
"""
from __future__ import annotations

import filecmp
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
    env = os.environ.get(DATA_ENV)
    if env and (Path(env) / p).exists():    # the user's own data folder wins outright
        return Path(env) / p
    found = [c for c in tried if c.exists()]
    refuse_ambiguous(p, found)              # among the implicit places, two files are refused
    if found:
        return found[0]
    raise FileNotFoundError(f"data path {str(path)!r} not found; tried "
                            + ", ".join(str(t) for t in tried)
                            + f" (set ${DATA_ENV} to a data folder, or give an absolute path)")


def refuse_ambiguous(path: Path, found: list[Path]) -> None:
    """A relative path that names different files in two of the places searched is refused:
    taking either one silently could evaluate on the wrong data."""
    distinct = []
    for f in found:
        same = lambda d: f.resolve() == d.resolve() or (  # noqa: E731  (a copy is the same data)
            f.is_file() and d.is_file() and filecmp.cmp(f, d, shallow=False))
        if not any(same(d) for d in distinct):
            distinct.append(f)
    if len(distinct) > 1:
        raise ValueError(f"the relative data path {str(path)!r} names {len(distinct)} different "
                         f"files: " + " and ".join(str(d) for d in distinct)
                         + "; pass the absolute path of the one you mean")
