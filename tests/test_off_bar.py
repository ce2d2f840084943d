"""experiments.off_bar: the rows a spread selection does not take, and the selection itself."""
import pytest

from experiments.off_bar import spread_rows, write_off_bar


def test_off_bar_and_bar_partition_the_file(tmp_path):
    src = tmp_path / "v.csv"
    src.write_text("puzzle,solution\n" + "".join(f"p{i},s{i}\n" for i in range(20)))
    assert spread_rows(20, 5) == {0, 5, 10, 14, 19}
    assert write_off_bar(str(src), 5, tmp_path / "off.csv") == 15
    assert write_off_bar(str(src), 5, tmp_path / "bar.csv", bar=True) == 5
    off = (tmp_path / "off.csv").read_text().splitlines()
    bar = (tmp_path / "bar.csv").read_text().splitlines()
    assert off[0] == bar[0] == "puzzle,solution"
    assert bar[1:] == ["p0,s0", "p5,s5", "p10,s10", "p14,s14", "p19,s19"]
    assert sorted(off[1:] + bar[1:]) == sorted(f"p{i},s{i}" for i in range(20))
    with pytest.raises(ValueError, match="limit 20 takes every one of the 20 rows"):
        write_off_bar(str(src), 20, tmp_path / "none.csv")
