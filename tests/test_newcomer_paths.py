"""What a newcomer meets first, each case from issue 12: the task's own default data,
experiment files, a config without a data path, test-only files at the entry points, and the
reports' difficulty and paired tables."""
import json
import subprocess

import pytest
import torch
from omegaconf import OmegaConf

from conftest import run_module
from experiments.eval_source import data_path
from experiments.experiment_file import with_experiment_file
from experiments.paired import paired_differences, paired_table, unpaired_rows
from experiments.report import difficulty_table
from tasks.sudoku.task import SudokuTask, rating_bin
from tasks.text import TextTask

P = "530070000600195000098000060800060003400803001700020006060000280000419005000080079"
S = "534678912672195348198342567859761423426853791713924856961537284287419635345286179"


def test_null_data_path_is_the_tasks_own_and_a_missing_one_is_named():
    assert data_path(OmegaConf.create({"data": {"path": None}}), SudokuTask()) == \
        "sudoku/rrn_style_valid_18000.csv"
    assert data_path(OmegaConf.create({"data": {"path": None}}), TextTask()) == "validation"
    with pytest.raises(ValueError, match=r"no data.path: give data.path=FILE"):
        data_path(OmegaConf.create({"seed": 0}), SudokuTask())


def test_givens_come_from_the_puzzle_when_the_file_has_no_column(tmp_path):
    file = tmp_path / "mine.csv"
    file.write_text(f"quizzes,solutions\r\n{P},{S}\r\n{S[:80]}0,{S}\r\n")
    data = SudokuTask().load_eval(str(file))
    assert data.buckets["givens"] == [str(81 - P.count("0")), "80"] == ["30", "80"]


def test_ratings_fall_into_whole_point_bins():
    assert [rating_bin(r) for r in ("2.5", "2.9", "7.0", "9.3", " ")] == \
        ["2.0-2.9", "2.0-2.9", "7.0-7.9", "9.0-9.9", "unrated"]


def test_difficulty_tables_give_n_per_column():
    buckets = {"givens": {"17": {"accuracy": 0.5, "n": 4}, "18": {"accuracy": 1.0, "n": 2}}}
    rows = [{"policy": "a", "knob": "k", "buckets": buckets},
            {"policy": "b", "knob": "k", "buckets": buckets}]
    lines = difficulty_table(rows, "givens").splitlines()
    assert lines[2] == "| n | | 4 | 2 |"
    assert lines[3] == "| a | k | 0.50 | 1.00 |"


def test_no_discordant_sequence_is_not_shown_as_a_zero_width_interval():
    rows = [{"policy": "learned", "knob": "t=0.5", "nfe_mean": 10.0},
            {"policy": "factor", "knob": "f=1", "nfe_mean": 10.5},
            {"policy": "learned", "knob": "t=0.1", "nfe_mean": 30.0}]
    same = torch.tensor([1, 0, 1], dtype=torch.bool)
    pairs = paired_differences(rows, [same, same.clone(), same.clone()], "learned", 1.0)
    md = paired_table(pairs, unpaired_rows(rows, "learned", 1.0), 1.0)
    assert "+0.0 to +0.0" not in md
    assert "| +0.0 | none: no sequence discordant (of 3) | 0 | 0 |" in md
    assert "- learned t=0.1 (30.0 calls): no row of another policy within 1 calls" in md


def test_experiment_files_become_a_search_path(tmp_path):
    mine = tmp_path / "my.yaml"
    mine.write_text("# @package _global_\ndata:\n  limit: 3\n")
    args = with_experiment_file(["experiment=" + str(mine), "seed=1"])
    assert args[0] == "experiment=my" and args[1] == "seed=1"
    folder = args[2].removeprefix("hydra.searchpath=[file://").removesuffix("]")
    assert (tmp_path / "my.yaml").read_text() == open(f"{folder}/experiment/my.yaml").read()
    assert with_experiment_file(["experiment=sudoku_bar"]) == ["experiment=sudoku_bar"]
    with pytest.raises(SystemExit, match="no such file"):
        with_experiment_file([f"experiment={tmp_path / 'none.yaml'}"])
    (tmp_path / "bare.yaml").write_text("data:\n  limit: 3\n")
    with pytest.raises(SystemExit, match="is not `# @package _global_`"):
        with_experiment_file([f"experiment={tmp_path / 'bare.yaml'}"])


def test_compare_runs_an_experiment_file_and_refuses_test_only_data(tmp_path, python_exe, python_env):
    mine = tmp_path / "mine.yaml"
    mine.write_text("# @package _global_\ntitle: mine\ndata:\n  path: sudoku/ye2024_sudoku_test_1000.csv\n"
                    "  limit: 4\n  select: first\nsweep:\n  - {policy: threshold, knob: tau, values: [0.9]}\n")
    cmd = [python_exe, "-m", "experiments.compare", f"experiment={mine}", f"hydra.run.dir={tmp_path / 'a'}"]
    proc = subprocess.run(cmd, env=python_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0 and "marked test only" in proc.stderr and "allow_test=true" in proc.stderr
    run_module(python_exe, python_env, "experiments.compare", f"experiment={mine}", "allow_test=true",
               f"hydra.run.dir={tmp_path / 'b'}")
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert [r["allow_test"] for r in results] == [True] and results[0]["n"] == 4
    assert "`allow_test=true`" in (tmp_path / "b" / "comparison.md").read_text()
    assert "Accuracy by givens" in (tmp_path / "b" / "comparison.md").read_text()


def test_evaluate_refuses_test_only_data_unless_allowed(tmp_path, python_exe, python_env):
    args = ["policy=threshold", "data.path=sudoku/ye2024_sudoku_test_1000.csv", "data.limit=3"]
    proc = subprocess.run([python_exe, "-m", "experiments.evaluate", *args,
                           f"hydra.run.dir={tmp_path / 'a'}"], env=python_env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0 and "marked test only" in proc.stderr
    run_module(python_exe, python_env, "experiments.evaluate", *args, "allow_test=true",
               f"hydra.run.dir={tmp_path / 'b'}")
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["allow_test"] is True and results["n"] == 3


def test_evaluate_on_text_runs_as_typed_from_another_directory(tmp_path, python_exe, python_env):
    proc = subprocess.run([python_exe, "-m", "experiments.evaluate", "task=text", "policy=topk_margin",
                           "data.limit=2", f"hydra.run.dir={tmp_path / 'run'}"], env=python_env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["data"] == "tinyshakespeare-validation-L128-prompt0" and results["n"] == 2
