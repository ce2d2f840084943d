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


def test_learned_restart_selection_rows_are_outside_the_bar_and_the_correctness_training():
    """experiment=sudoku_fix_learned_select: rows 4505, 4514, ... hold none of the 2,000 bar
    puzzles and start after every row the correctness planner was trained on (train.rounds x
    len(collect_f) x puzzles rows of the file outside its bar and validation rows, in order)."""
    from omegaconf import OmegaConf

    from experiments.off_bar import spread_rows
    from tasks.paths import REPO_ROOT as REPO

    exp = OmegaConf.load(REPO / "experiments/configs/experiment/sudoku_fix_learned_select.yaml")
    train = OmegaConf.load(REPO / "experiments/configs/train/correctness.yaml")
    top = OmegaConf.load(REPO / "experiments/configs/train_correctness.yaml")
    task = SudokuTask(pool_size=1)
    k, offset = 9, 4505
    assert exp.data.select == f"every:{k}:{offset}"
    n = len(load_sudoku_csv(resolve_data_path(FILE)))
    dropped = spread_rows(n, int(top.data.exclude_spread)) | spread_rows(n, int(train.val_limit))
    kept = [i for i in range(n) if i not in dropped]
    used = train.rounds * len(train.collect_f) * train.puzzles
    assert kept[used - 1] < offset
    chosen = set(range(offset, offset + k * exp.data.limit, k))
    assert not chosen & spread_rows(n, 2000)
    assert len(task.load_eval(FILE, exp.data.limit, exp.data.select)) == exp.data.limit
