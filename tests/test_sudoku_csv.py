import pytest
import torch

from tasks.sudoku import SudokuCSVError, load_sudoku_csv

P = "080050060460907108005000029970006500000872031300049000004025003010000480603100007"
S = "789251364462937158135468729978316542546872931321549876894725613217693485653184297"


def write(tmp_path, text, newline="\n"):
    path = tmp_path / "p.csv"
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_reads_both_headers_crlf_and_dots(tmp_path):
    a = load_sudoku_csv(write(tmp_path, f"puzzle,solution,givens\n{P},{S},30\n"))
    b = load_sudoku_csv(write(tmp_path, f"quizzes,solutions\n{P.replace('0', '.')},{S}\n\n", "\r\n"))
    assert torch.equal(a.puzzles, b.puzzles) and torch.equal(a.solutions, b.solutions)
    assert a.extra == {"givens": ["30"]}
    assert int((a.puzzles[0] == 0).sum()) == P.count("0")


@pytest.mark.parametrize("body, message", [
    (f"{P[:-1]},{S}", r"p\.csv:2 puzzle: expected 81 characters, got 80"),
    (f"{P[:-1]}x,{S}", r"p\.csv:2 puzzle: character 'x'"),
    (f"{P},{S[:-1]}0", r"p\.csv:2 solution: character '0'"),
    (f"{P},{S},extra", r"p\.csv:2: 3 fields, header has 2"),
    (f"{P[:1]}1{P[2:]},{S}", r"p\.csv:2: solution disagrees with the given at cell 1"),
])
def test_malformed_rows_name_their_line(tmp_path, body, message):
    with pytest.raises(SudokuCSVError, match=message):
        load_sudoku_csv(write(tmp_path, f"puzzle,solution\n{body}\n"))


def test_error_on_the_third_line(tmp_path):
    with pytest.raises(SudokuCSVError, match=r"p\.csv:3 "):
        load_sudoku_csv(write(tmp_path, f"puzzle,solution\n{P},{S}\n{P[:40]},{S}\n"))


def test_bad_headers_and_files(tmp_path):
    with pytest.raises(SudokuCSVError, match="needs a puzzle column"):
        load_sudoku_csv(write(tmp_path, f"a,b\n{P},{S}\n"))
    with pytest.raises(SudokuCSVError, match="empty"):
        load_sudoku_csv(write(tmp_path, ""))
    with pytest.raises(SudokuCSVError, match="no puzzle rows"):
        load_sudoku_csv(write(tmp_path, "puzzle,solution\n"))
    with pytest.raises(FileNotFoundError, match="no Sudoku CSV"):
        load_sudoku_csv(tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="limit must be a positive"):
        load_sudoku_csv(write(tmp_path, f"puzzle,solution\n{P},{S}\n"), limit=0)


def test_limit(tmp_path):
    data = load_sudoku_csv(write(tmp_path, f"puzzle,solution\n{P},{S}\n{P},{S}\n{P},{S}\n"), limit=2)
    assert len(data) == 2
