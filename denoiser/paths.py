"""Model folders by path: a relative path is looked up in the working directory, then in the
repository, so `weights/sudoku-mdm` (a shipped folder) loads wherever the user stands."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def resolve_folder(path: str | Path) -> Path:
    """`path` if it is absolute or exists; else the repository's folder of that name; a
    relative path found in neither raises FileNotFoundError naming both places."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    shipped = REPO_ROOT / p
    if shipped.exists():
        return shipped
    raise FileNotFoundError(f"no model folder {str(path)!r}: tried {Path.cwd() / p} and {shipped}")
