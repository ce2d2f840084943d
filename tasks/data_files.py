"""The data files the project knows, read from the table in `data/README.md`.

The README is the one place that says which files are test only; every entry point asks
`check_test_only` before it evaluates on a file, so a test-only file is used only when the user
says `allow_test=true`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .paths import DATA_DIR

README = DATA_DIR / "README.md"
COLUMNS = ["file", "size", "sha256", "use", "in this repository"]


@dataclass(frozen=True)
class DataFile:
    name: str          # path relative to data/, e.g. "sudoku/se_ladder.csv"
    sha256: str
    test_only: bool
    shipped: bool


def _cells(line: str) -> list[str]:
    return [c.strip().strip("`") for c in line.strip().strip("|").split("|")]


@lru_cache(maxsize=None)
def data_files(readme: Path = README) -> tuple[DataFile, ...]:
    """Every row of the table under `## Files` in `readme`."""
    lines = readme.read_text(encoding="utf-8").splitlines()
    header = next((i for i, line in enumerate(lines)
                   if line.startswith("|") and _cells(line) == COLUMNS), None)
    if header is None:
        raise ValueError(f"{readme}: no table with the columns {COLUMNS}")
    files = []
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        name, _, sha, use, shipped = _cells(line)
        if len(sha) != 64:
            raise ValueError(f"{readme}: file {name!r} has sha256 {sha!r}, expected 64 hex digits")
        files.append(DataFile(name, sha, use.lower().startswith("test only"),
                              shipped.lower().startswith("yes")))
    return tuple(files)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def marked_test_only(path: str | Path) -> DataFile | None:
    """The test-only file that `path` is, by its name or by its content; else None."""
    path = Path(path)
    marked = [f for f in data_files() if f.test_only]
    by_name = next((f for f in marked if Path(f.name).name == path.name), None)
    if by_name is not None or not path.is_file():
        return by_name
    digest = sha256_of(path)
    return next((f for f in marked if f.sha256 == digest), None)


class HeldOutDataError(ValueError):
    pass


def check_test_only(path: str | Path, allow_test: bool, what: str = "data.path") -> bool:
    """Whether `path` is a test-only file; refuse it unless `allow_test` (True)."""
    entry = marked_test_only(path)
    if entry is not None and not allow_test:
        raise HeldOutDataError(
            f"{what}={str(path)!r} is {entry.name}, marked test only in {README}: never train, "
            f"tune or select on it. For a final figure, say allow_test=true (it is recorded in "
            f"the outputs)")
    return entry is not None
