"""Nothing the project runs reads a `shared/` folder beside the checkout: a fresh clone has
none. (In-process, tests/conftest.py refuses such reads in every test; this runs the entry
points themselves under the same audit hook, and records what they opened.)"""
import json
import subprocess
import textwrap

from conftest import REPO

SCRIPT = textwrap.dedent("""
    import json, os, runpy, sys
    opened = set()
    def hook(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.add(os.path.abspath(os.fsdecode(args[0])))
    sys.addaudithook(hook)
    module, out, *argv = sys.argv[1:]
    sys.argv = [module, *argv]
    try:
        runpy.run_module(module, run_name="__main__")
    finally:
        with open(out, "w") as f:
            json.dump(sorted(opened), f)
""")


def opened_by(tmp_path, python_exe, python_env, module, *args):
    out = tmp_path / f"{module}.json"
    proc = subprocess.run([python_exe, "-c", SCRIPT, module, str(out), *args], env=python_env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def test_the_entry_points_read_data_and_weights_from_the_repository(tmp_path, python_exe, python_env):
    python_env.pop("MDM_DATA", None)
    outside = str(REPO.parent / "shared")
    runs = {
        "sudoku": opened_by(tmp_path, python_exe, python_env, "experiments.evaluate",
                            "policy=learned", "data.limit=2", f"hydra.run.dir={tmp_path / 's'}"),
        "text": opened_by(tmp_path, python_exe, python_env, "experiments.evaluate", "task=text",
                          "data.limit=1", f"hydra.run.dir={tmp_path / 't'}"),
    }
    for name, opened in runs.items():
        assert not [p for p in opened if p.startswith(outside)], name
    assert str(REPO / "data" / "sudoku" / "rrn_style_valid_18000.csv") in runs["sudoku"]
    assert str(REPO / "weights" / "sudoku-planner" / "config.json") in runs["sudoku"]
    assert str(REPO / "data" / "text" / "tinyshakespeare.txt") in runs["text"]
