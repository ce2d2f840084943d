"""The Hydra entry points end to end at a tiny size, as subprocesses."""
import csv
import json
import subprocess


from denoiser import MDMConfig, MDMTransformer
from conftest import run_module


def test_help_shows_the_config(python_exe, python_env):
    for module in ("experiments.evaluate", "experiments.compare", "experiments.train_denoiser",
                   "experiments.bench", "experiments.failures"):
        out = run_module(python_exe, python_env, module, "--help")
        assert out.startswith(f"python -m {module}: ")      # what it does
        assert "Main keys:" in out and f"Example:\n  python -m {module}" in out
        assert "== Config (override anything as key=value) ==" in out
        if module == "experiments.evaluate":               # only the groups it uses
            assert "train:" not in out and "planner:" not in out


def test_evaluate_writes_results(tmp_path, python_exe, python_env, tiny_denoiser):
    out = run_module(python_exe, python_env, "experiments.evaluate", "policy=threshold",
              f"denoiser.path={tiny_denoiser}", "data.limit=6", f"hydra.run.dir={tmp_path}")
    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("accuracy", "accuracy_ci95", "nfe_mean", "nfe_max", "n", "seconds"):
        assert key in results
    assert results["n"] == 6
    assert set(results["buckets"]) == {"givens", "singles_only"}
    assert list(tmp_path.glob("tb/events.out.tfevents.*"))
    assert "accuracy" in out


def test_evaluate_multirun_sweeps(tmp_path, python_exe, python_env, tiny_denoiser):
    run_module(python_exe, python_env, "experiments.evaluate", "-m", "policy=topk_margin,eb",
        f"denoiser.path={tiny_denoiser}", "data.limit=3", f"hydra.sweep.dir={tmp_path}")
    assert len(list(tmp_path.glob("*/results.json"))) == 2


def test_evaluate_refuses_a_denoiser_for_another_vocabulary(tmp_path, python_exe, python_env):
    MDMTransformer(MDMConfig(vocab_size=12, mask_id=0, max_length=81, d_model=16, n_layers=1,
                             n_heads=2, d_ff=32, structure="sudoku")).save_pretrained(tmp_path / "d")
    proc = subprocess.run([python_exe, "-m", "experiments.evaluate", f"denoiser.path={tmp_path / 'd'}",
                           "data.limit=2", f"hydra.run.dir={tmp_path / 'run'}"], env=python_env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "vocab_size=12, but task 'sudoku' needs 10" in proc.stderr


def test_compare_writes_table_plot_and_events(tmp_path, python_exe, python_env, tiny_denoiser):
    sweep = "sweep=[{policy:topk_margin,knob:steps,values:[null,4]},{policy:threshold,knob:tau,values:[0.9]}]"
    out = run_module(python_exe, python_env, "experiments.compare", f"denoiser.path={tiny_denoiser}",
              "data.limit=5", sweep, "paired.reference=threshold", "paired.nfe_tolerance=100",
              f"hydra.run.dir={tmp_path}")
    rows = list(csv.DictReader((tmp_path / "comparison.csv").open()))
    assert [(r["policy"], r["knob"]) for r in rows] == [
        ("topk_margin", "steps=None"), ("topk_margin", "steps=4"), ("threshold", "tau=0.9")]
    assert float(rows[1]["nfe_max"]) <= 4
    md = (tmp_path / "comparison.md").read_text()
    assert "| policy | knob | accuracy |" in md and "Accuracy by givens" in md
    # threshold against both top-k margin rows (a tolerance of 100 calls takes every row)
    pairs = json.loads((tmp_path / "paired.json").read_text())
    assert [(p["knob"], p["other_knob"]) for p in pairs] == [("tau=0.9", "steps=None"),
                                                             ("tau=0.9", "steps=4")]
    assert "Paired differences at matched NFE (threshold" in md and all(p["n"] == 5 for p in pairs)
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.glob("tb/events.out.tfevents.*"))
    assert "pareto.png" in out


def test_compare_is_deterministic(tmp_path, python_exe, python_env, tiny_denoiser):
    sweep = "sweep=[{policy:random,knob:steps,values:[8]}]"
    for d in ("a", "b"):
        run_module(python_exe, python_env, "experiments.compare", f"denoiser.path={tiny_denoiser}",
            "data.limit=4", sweep, f"hydra.run.dir={tmp_path / d}")
    strip = lambda r: {k: v for k, v in r.items() if "seconds" not in k}  # noqa: E731
    a = [strip(r) for r in json.loads((tmp_path / "a" / "results.json").read_text())]
    b = [strip(r) for r in json.loads((tmp_path / "b" / "results.json").read_text())]
    assert a == b


def test_bench_prints_every_section(tmp_path, python_exe, python_env):
    """All three sections at a tiny size on the alternation task (length 4, nothing given):
    one position per call means 4 calls per sequence for top-k margin, and at length L on
    the random models L calls for top-k margin and for the untrained planner (p_i = 1/2
    everywhere, so it takes the single top position)."""
    out = run_module(python_exe, python_env, "experiments.bench", "threads=1", "task=alternation",
              "task.length=4", "denoiser=alternation", "policies.data=validation",
              "policies.batch=3", "policies.names=[topk_margin,threshold]",
              "estimators.planner=null", "estimators.batch=2", "estimators.draws=2",
              "estimators.steps=1", "lengths.lengths=[4,8]", "lengths.vocab_size=8",
              "lengths.batch=2", "lengths.policies=[topk_margin,learned]",
              "lengths.architecture.d_model=16", "lengths.architecture.n_layers=1",
              "lengths.architecture.n_heads=2", "lengths.architecture.d_ff=32",
              f"hydra.run.dir={tmp_path}")
    for section in ("policies", "estimators", "lengths"):
        assert f"== {section} ==" in out
    rows = [line.split() for line in out.splitlines()]
    policies = {r[0]: r for r in rows if r and r[0] in ("topk_margin", "threshold")}
    assert float(policies["topk_margin"][2]) == 4.0          # mean NFE
    assert float(policies["topk_margin"][-1]) == 100.0       # the trained denoiser alternates
    estimators = [r for r in rows if r and r[0].endswith("_ELBO")]
    assert [r[0] for r in estimators] == ["TraceGraph_ELBO", "RaoBlackwellLOO_ELBO",
                                          "OneStepLOO_ELBO"]
    lengths = [(int(r[0]), r[1], float(r[3])) for r in rows
               if len(r) == 7 and r[0].isdigit() and r[1] in ("topk_margin", "learned")]
    assert lengths == [(4, "topk_margin", 4.0), (4, "learned", 4.0),
                       (8, "topk_margin", 8.0), (8, "learned", 8.0)]


def test_failures_traces_first_errors(tmp_path, python_exe, python_env, tiny_denoiser):
    """An untrained denoiser fails every puzzle: each failure gets exactly one kind; top-k
    margin commits one cell per step, so none of its first errors is "parallel"."""
    sweep = "sweep=[{policy:topk_margin},{policy:threshold,knob:tau,values:[0.1]}]"
    out = run_module(python_exe, python_env, "experiments.failures", f"denoiser.path={tiny_denoiser}",
                     "data.limit=4", sweep, f"hydra.run.dir={tmp_path}")
    result = json.loads((tmp_path / "failures.json").read_text())
    assert [(r["policy"], r["knob"]) for r in result["rows"]] == [("topk_margin", "default"),
                                                                   ("threshold", "tau=0.1")]
    for r in result["rows"]:
        f = r["failures"]
        assert f["failed"] == round(4 * (1 - r["accuracy"]))
        assert f["forced"] + f["parallel"] + f["ranked"] == f["failed"]
        assert sum(f["confidence_bins"].values()) == f["failed"]
    assert result["rows"][0]["failures"]["parallel"] == 0
    assert result["across"]["any"]["solved"] >= result["across"]["every"]["solved"]
    assert "| policy | knob | accuracy | NFE | failed | forced |" in (tmp_path / "failures.md").read_text()
    assert (tmp_path / "failures.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.glob("tb/events.out.tfevents.*"))
    assert "failures.png" in out
