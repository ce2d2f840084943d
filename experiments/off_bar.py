"""Validation puzzles disjoint from the bar's: the rows of a Sudoku CSV that
`load_eval(path, limit, "spread")` does not take, written as a CSV of the same format, for
choosing snapshots and knobs without touching the bar puzzles.

    python -m experiments.off_bar [--limit 2000] [--out runs/off_bar/rrn_style_valid_off_bar.csv]

Then `data.path=runs/off_bar/rrn_style_valid_off_bar.csv data.select=spread data.limit=N`.
With `--bar` it writes the bar's own rows instead (`runs/off_bar/rrn_style_valid_bar.csv`):
`data.select=spread data.limit=N` of that file is then an even subset of the bar puzzles, for
a costly row (one cell per step) that the whole bar cannot afford.
(The bar's 2,000 spread rows of the 18,000 are not only rows 0 and 1 mod 9: the spacing is
17999/1999 = 9.004 rows, so they fall on every residue mod 9; rows 4, 13, 22, ... share 250
puzzles with them.)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from tasks.paths import resolve_data_path

DEFAULT_PATH = "sudoku/rrn_style_valid_18000.csv"


def spread_rows(n_rows: int, limit: int) -> set[int]:
    """The row indices (0-based, header excluded) that select="spread" takes."""
    if limit >= n_rows:
        return set(range(n_rows))
    return set(torch.linspace(0, n_rows - 1, limit).round().long().tolist())


def write_off_bar(path: str, limit: int, out: Path, bar: bool = False) -> int:
    """Write the rows outside the spread selection (or, with `bar`, the selection itself)."""
    lines = resolve_data_path(path).read_text().splitlines()
    header, rows = lines[0], [r for r in lines[1:] if r.strip()]
    taken = spread_rows(len(rows), limit)
    kept = [r for i, r in enumerate(rows) if (i in taken) == bar]
    if not kept:
        raise ValueError(f"limit {limit} takes every one of the {len(rows)} rows of {path}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join([header, *kept]) + "\n")
    return len(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--path", default=DEFAULT_PATH)
    parser.add_argument("--limit", type=int, default=2000, help="the bar's spread selection size")
    parser.add_argument("--bar", action="store_true", help="write the spread rows themselves")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path("runs/off_bar") / ("rrn_style_valid_bar.csv" if args.bar
                                              else "rrn_style_valid_off_bar.csv")
    n = write_off_bar(args.path, args.limit, out, args.bar)
    print(f"{n} rows of {args.path} {'in' if args.bar else 'outside'} its {args.limit} spread "
          f"rows: {out}")


if __name__ == "__main__":
    main()
