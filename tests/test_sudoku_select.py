"""`data.select=every:K:OFFSET`: the rows of a selection set disjoint from a spread one."""
import pytest
import torch

from tasks.sudoku import SudokuTask, load_sudoku_csv
from tasks.paths import resolve_data_path

FILE = "sudoku/rrn_style_valid_18000.csv"


def test_every_takes_rows_offset_plus_k():
    task = SudokuTask(pool_size=1)
    data = task.load_eval(FILE, 5, "every:9:4")
    rows = load_sudoku_csv(resolve_data_path(FILE), limit=50)
    assert torch.equal(data.prompts, rows.puzzles[torch.tensor([4, 13, 22, 31, 40])])
    spread = task.load_eval(FILE, 2000, "spread")
    chosen = task.load_eval(FILE, 400, "every:9:4")
    shared = {tuple(p.tolist()) for p in spread.prompts} & {tuple(p.tolist()) for p in chosen.prompts}
    assert not shared, "the selection rows must be disjoint from the 2,000 bar puzzles"


@pytest.mark.parametrize("select", ["every:0:1", "every:9", "every:a:b", "every:9:-1", "sometimes"])
def test_bad_select_names_the_value(select):
    with pytest.raises(ValueError, match="select must be"):
        SudokuTask(pool_size=1).load_eval(FILE, 5, select)
