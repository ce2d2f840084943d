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
    found = [base / p for base in (shared_data_dir(), REPO_ROOT, Path.cwd()) if (base / p).exists()]
    refuse_ambiguous(p, found)
    return found[0] if found else shared_data_dir() / p


def refuse_ambiguous(path: Path, found: list[Path]) -> None:
    """A relative path that names different files in two of the places searched is refused:
    taking either one silently could evaluate on the wrong data."""
    distinct = []
    for f in found:
        if not any(f.resolve() == d.resolve() for d in distinct):
            distinct.append(f)
    if len(distinct) > 1:
        raise ValueError(f"the relative data path {str(path)!r} names {len(distinct)} different "
                         f"files: " + " and ".join(str(d) for d in distinct)
                         + "; pass the absolute path of the one you mean")
