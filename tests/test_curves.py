"""experiments.curves: a training curve read back from a run's TensorBoard events, written as a
table and a plot, with clear refusals."""
import csv
import subprocess

import pytest

from conftest import run_module
from experiments.curves import read_curve
from experiments.tb import TensorBoardLogger


def logged_run(folder, points, purge_step=None):
    log = TensorBoardLogger(folder, purge_step=purge_step)
    for step, value in points:
        log.scalars({"val/loss": value, "train/loss": value + 1}, step)
    log.close()
    return folder


def test_a_resumed_run_reads_as_one_curve_keeping_the_later_writes(tmp_path):
    run = logged_run(tmp_path / "run", [(100, 3.0), (200, 2.5), (300, 2.4)])
    # killed after step 300's write; resumed from the step-200 checkpoint, it logs 300 again
    logged_run(run, [(300, 2.2), (400, 2.1)], purge_step=300)
    assert read_curve(run, "val/loss") == [(100, 3.0), (200, 2.5), (300, pytest.approx(2.2)),
                                           (400, pytest.approx(2.1))]


def test_the_entry_point_writes_table_and_plot_in_the_scale_asked(tmp_path, python_exe, python_env):
    a = logged_run(tmp_path / "a", [(200, 2.0), (400, 1.5)])
    b = logged_run(tmp_path / "b", [(200, 3.0)])
    out = tmp_path / "out"
    printed = run_module(python_exe, python_env, "experiments.curves",
                         f"runs={{first: {a}, second: {b}}}", "tag=val/loss", "scale=2.0",
                         f"hydra.run.dir={out}")
    assert "first: 2 points, last 3.0000 at step 400, lowest 3.0000 at step 400" in printed
    rows = list(csv.DictReader((out / "curves.csv").open()))
    assert [(r["label"], int(r["step"]), float(r["value"])) for r in rows] == [
        ("first", 200, 4.0), ("first", 400, 3.0), ("second", 200, 6.0)]
    md = (out / "curves.md").read_text().splitlines()
    assert md[0] == "| step | first | second |" and md[2:] == ["| 200 | 4.000 | 6.000 |",
                                                               "| 400 | 3.000 |  |"]
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["tag=val/accuracy"], "has no scalar 'val/accuracy'; it has ['train/loss', 'val/loss']"),
    (["runs={x: NOWHERE}"], "no TensorBoard event files in NOWHERE"),
    (["scale=-1"], "scale must be a positive number, got -1"),
])
def test_bad_input_is_refused_by_name(tmp_path, python_exe, python_env, args, message):
    run = logged_run(tmp_path / "run", [(1, 1.0)])
    cmd = [python_exe, "-m", "experiments.curves", f"runs={{x: {run}}}",
           f"hydra.run.dir={tmp_path / 'out'}", *args]
    proc = subprocess.run(cmd, env=python_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr
