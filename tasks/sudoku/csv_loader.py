"""Loader for Sudoku CSV files in the format of data/README.md.

Accepts `puzzle,solution` or `quizzes,solutions` headers, LF or CRLF, `0` or `.` for a blank,
UTF-8 with or without a byte-order mark (another encoding is refused, naming the file and line),
and keeps any extra columns (`givens`, `singles_only`, `se_rating`, ...) as strings. A malformed
row raises an error naming its line number; nothing is skipped silently.
"""
from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import torch

_PUZZLE_COLUMNS = ("puzzle", "quizzes")
_SOLUTION_COLUMNS = ("solution", "solutions")


@dataclass
class SudokuSet:
    puzzles: torch.Tensor                      # [n, 81] long, 0 at blanks
    solutions: torch.Tensor                    # [n, 81] long, digits 1..9
    extra: dict[str, list[str]] = field(default_factory=dict)  # column -> n values
    path: str = ""

    def __len__(self) -> int:
        return self.puzzles.shape[0]

    def subset(self, index: torch.Tensor | slice) -> "SudokuSet":
        idx = torch.arange(len(self))[index]
        return SudokuSet(self.puzzles[idx], self.solutions[idx],
                         {k: [v[i] for i in idx.tolist()] for k, v in self.extra.items()}, self.path)


class SudokuCSVError(ValueError):
    pass


def _parse_cells(text: str, *, allow_blank: bool, where: str) -> list[int]:
    if len(text) != 81:
        raise SudokuCSVError(f"{where}: expected 81 characters, got {len(text)} ({text[:20]!r}...)")
    cells = []
    for ch in text:
        if ch in "123456789":
            cells.append(int(ch))
        elif allow_blank and ch in "0.":
            cells.append(0)
        else:
            allowed = "digits 1-9, '0' or '.'" if allow_blank else "digits 1-9"
            raise SudokuCSVError(f"{where}: character {ch!r} is not one of {allowed}")
    return cells


def _read_text(path: Path) -> str:
    """The file as text: UTF-8 (a leading UTF-8 byte-order mark is dropped); UTF-16/32 or
    bytes that are not UTF-8 raise an error naming the file, the line and the byte."""
    raw = path.read_bytes()
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
                      (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16")):
        if raw.startswith(bom):
            raise SudokuCSVError(f"{path}: the file is {name} text (it starts with a {name} "
                                 f"byte-order mark); expected UTF-8 (or ASCII): convert it, e.g. "
                                 f"iconv -f {name} -t UTF-8")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise SudokuCSVError(f"{path}:{line}: byte {raw[e.start:e.start + 1]!r} at offset "
                             f"{e.start} is not UTF-8; expected a UTF-8 (or ASCII) CSV, this one "
                             f"may be latin-1 or UTF-16: convert it, e.g. iconv -f latin1 -t "
                             f"UTF-8") from None


def load_sudoku_csv(path: str | Path, limit: int | None = None) -> SudokuSet:
    """Read up to `limit` rows (all when None) of a Sudoku CSV."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Sudoku CSV at {path}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"limit must be a positive number of rows or None, got {limit!r}")
    puzzles, solutions, extra = [], [], {}
    with io.StringIO(_read_text(path), newline="") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise SudokuCSVError(f"{path}: the file is empty; expected a header row") from None
        p_col = next((header.index(c) for c in _PUZZLE_COLUMNS if c in header), None)
        s_col = next((header.index(c) for c in _SOLUTION_COLUMNS if c in header), None)
        if p_col is None or s_col is None:
            raise SudokuCSVError(f"{path}: header {header} needs a puzzle column {_PUZZLE_COLUMNS} "
                                 f"and a solution column {_SOLUTION_COLUMNS}")
        others = [(i, h) for i, h in enumerate(header) if i not in (p_col, s_col)]
        extra = {h: [] for _, h in others}
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue  # a trailing blank line is not a puzzle
            where = f"{path}:{line}"
            if len(row) != len(header):
                raise SudokuCSVError(f"{where}: {len(row)} fields, header has {len(header)}")
            puzzle = _parse_cells(row[p_col].strip(), allow_blank=True, where=where + " puzzle")
            solution = _parse_cells(row[s_col].strip(), allow_blank=False, where=where + " solution")
            clash = [i for i in range(81) if puzzle[i] and puzzle[i] != solution[i]]
            if clash:
                raise SudokuCSVError(f"{where}: solution disagrees with the given at cell {clash[0]}")
            puzzles.append(puzzle)
            solutions.append(solution)
            for i, h in others:
                extra[h].append(row[i])
            if limit is not None and len(puzzles) >= limit:
                break
    if not puzzles:
        raise SudokuCSVError(f"{path}: no puzzle rows after the header")
    return SudokuSet(torch.tensor(puzzles), torch.tensor(solutions), extra, str(path))
