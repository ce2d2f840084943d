"""The repository's data folder: what data/README.md lists, its checksums, where relative
paths are looked up, and the refusal of test-only files."""
import shutil

import pytest

from tasks.data_files import (HeldOutDataError, check_test_only, data_files, marked_test_only,
                              sha256_of)
from tasks.paths import DATA_DIR, REPO_ROOT, resolve_data_path


def test_every_shipped_file_has_its_listed_checksum():
    shipped = [f for f in data_files() if f.shipped]
    assert {f.name for f in shipped} == {"sudoku/rrn_style_valid_18000.csv",
                                         "sudoku/ye2024_sudoku_test_1000.csv",
                                         "text/tinyshakespeare.txt"}
    for f in shipped:
        assert sha256_of(DATA_DIR / f.name) == f.sha256, f.name


def test_the_folder_holds_exactly_the_shipped_files():
    present = {str(p.relative_to(DATA_DIR)) for p in DATA_DIR.rglob("*") if p.is_file()}
    assert present - {"README.md"} == {f.name for f in data_files() if f.shipped}


def test_test_only_files_are_the_three_marked():
    assert {f.name for f in data_files() if f.test_only} == {
        "sudoku/ye2024_sudoku_test_1000.csv", "sudoku/rrn_style_test_18000.csv",
        "sudoku/se_ladder.csv"}


def test_a_test_only_file_is_known_by_name_anywhere_and_by_content_under_another_name(tmp_path):
    elsewhere = tmp_path / "se_ladder.csv"
    elsewhere.write_text("puzzle,solution\n")
    assert marked_test_only(elsewhere).name == "sudoku/se_ladder.csv"
    renamed = tmp_path / "my_puzzles.csv"
    shutil.copyfile(DATA_DIR / "sudoku" / "ye2024_sudoku_test_1000.csv", renamed)
    assert marked_test_only(renamed).name == "sudoku/ye2024_sudoku_test_1000.csv"
    assert marked_test_only(DATA_DIR / "sudoku" / "rrn_style_valid_18000.csv") is None


def test_a_test_only_file_is_refused_unless_allowed():
    file = DATA_DIR / "sudoku" / "ye2024_sudoku_test_1000.csv"
    with pytest.raises(HeldOutDataError, match=r"data.path=.*ye2024_sudoku_test_1000.csv.* "
                                               r"marked test only.*allow_test=true"):
        check_test_only(file, allow_test=False)
    assert check_test_only(file, allow_test=True) is True
    assert check_test_only(DATA_DIR / "sudoku" / "rrn_style_valid_18000.csv", False) is False


def test_relative_paths_are_looked_up_in_mdm_data_first_then_the_repository(tmp_path, monkeypatch):
    assert resolve_data_path("sudoku/rrn_style_valid_18000.csv") == \
        DATA_DIR / "sudoku" / "rrn_style_valid_18000.csv"
    (tmp_path / "sudoku").mkdir()
    (tmp_path / "sudoku" / "rrn_style_valid_18000.csv").write_text("x")
    monkeypatch.setenv("MDM_DATA", str(tmp_path))
    assert resolve_data_path("sudoku/rrn_style_valid_18000.csv") == \
        tmp_path / "sudoku" / "rrn_style_valid_18000.csv"


def test_a_missing_relative_path_names_every_place_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("MDM_DATA", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        resolve_data_path("sudoku/nope.csv")
    message = str(err.value)
    for base in (tmp_path / "env", DATA_DIR, REPO_ROOT, tmp_path):
        assert str(base / "sudoku" / "nope.csv") in message
    assert "MDM_DATA" in message
