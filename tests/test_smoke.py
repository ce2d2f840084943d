"""Every Makefile target and every entry point, on tiny settings, so a documented command that
breaks fails CI (`make bench` once did, unseen).

The targets that run Python are run as `make -n` lists them, each command with the tiny
overrides of its entry point appended and its `export_to` moved into a temporary folder, in
that folder (so `runs/` goes there too and nothing shipped is touched). `setup`, `scatter` and
`test` (which would install packages, or run this suite again) are checked with `make -n`;
`clean` runs for real in the temporary folder. Then the run folders those runs left are used
again: a rerun without resume=true, a resume with changed settings and a second evaluate into
one folder are refused; the .log files are not empty; each entry point's help template describes it (the
`--help` output itself: tests/test_entry_points.py).
"""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conftest import REPO

VENV = Path(sys.executable).parent.parent
MAKE = ["make", "-f", str(REPO / "Makefile"), f"VENV={VENV}", "-o", f"{VENV}/.installed",
        "-o", f"{VENV}/.scatter"]

THREADS = ["train.threads=1"]
SUDOKU_TASK = ["task.pool_size=20", "task.val_limit=4"]
TEXT_TASK = ["task.val_limit=2", "task.length=40"]     # 40: the continuation prompt is 32
SMALL_MDM = ["denoiser.d_model=16", "denoiser.n_layers=1", "denoiser.n_heads=2", "denoiser.d_ff=32"]
SMALL_BERT = ["denoiser.hidden_size=16", "denoiser.num_layers=1", "denoiser.num_heads=2",
              "denoiser.intermediate_size=32"]
FIT = ["train.steps=2", "train.batch_size=4", "train.warmup=1", "train.log_every=1",
       "train.eval_every=2", "train.ckpt_every=1", "train.val_grids=4", *THREADS]
PLAN = ["train.steps=2", "train.batch_size=2", "train.log_every=1", "train.eval_every=2",
        "train.ckpt_every=1", "train.grad_var_every=2", "train.grad_var_draws=2",
        "train.val_limit=2", *THREADS]


def tiny(module: str, args: list[str]) -> list[str]:
    """The overrides that make one entry point's run take seconds."""
    text = "task=text" in args or any(a.startswith("experiment=text") for a in args)
    if module == "train_denoiser":
        model = SMALL_BERT if any(a.startswith("denoiser=hf_bert_text") for a in args) else SMALL_MDM
        return FIT + model + (TEXT_TASK if text else SUDOKU_TASK)
    if module == "train_ar":
        return FIT + TEXT_TASK + ["model.d_model=16", "model.n_layers=1", "model.n_heads=2",
                                  "model.d_ff=32"]
    if module == "train_planner":
        return PLAN + (TEXT_TASK if text else SUDOKU_TASK)
    if module == "compare":
        return ["data.limit=1", "eval.threads=1"] + (["task.length=40"] if text else [])
    if module == "nll_bound":
        return ["data.limit=2", "mc_draws=1", "eval.threads=1", "task.length=40"]
    if module == "bench":      # a high price per call keeps the estimators' trajectories short
        return ["policies.batch=2", "policies.names=[topk_margin,learned]", "estimators.batch=1",
                "estimators.draws=2", "estimators.steps=1", "estimators.beta=30",
                "lengths.lengths=[16]"]
    raise AssertionError(f"no tiny settings for experiments.{module}")


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return set(re.search(r"^\.PHONY:(.*)$", text, re.M).group(1).split())


RUN_TARGETS = ["run", "train-denoiser", "train-planner", "train-text", "compare-text", "bench"]
LISTED_ONLY = {"setup": "Nothing to be done", "scatter": "Nothing to be done",
               "test": "-m pytest -q",
               # the few-step figures' targets: long runs of modules covered one by one here
               # (train_planner, compare, failures); only their listing is checked
               "train-planner-fewstep": "-m experiments.train_planner planner=sudoku_fewstep",
               "compare-fewstep": "-m experiments.compare experiment=sudoku_fewstep",
               # issue 13's signal measurement (tests/test_remask_signal.py runs the module)
               "remask-signal": "-m experiments.remask_signal",
               # issue 17's targets: the objectives through train_planner are run at a tiny size
               # by tests/test_train_objectives.py; only their listing is checked here
               "train-planner-grpo": "-m experiments.train_planner train.threads=1 "
                                     "val_path=runs/off_bar/rrn_style_valid_off_bar.csv train=planner_grpo",
               "train-planner-imitation": "train=planner_imitation planner=sudoku_factor",
               "train-planner-loarm": "train=planner_loarm planner=sudoku_factor_singleton",
               "compare-objectives": "-m experiments.compare experiment=sudoku_objectives_fewstep",
               "bench-objectives": "-m experiments.bench threads=1 'sections=[objectives]'",
               # issue 18's trainings and measurements (an hour and more): train_denoiser with
               # objective=genmd4 and the genmd4_schedule entry point run tiny in
               # tests/test_genmd4.py, nll_bound and compare here and in tests/test_text_*
               "train-text-v2": "denoiser=mdm_text train=text_denoiser",
               "train-genmd4": "objective=genmd4 denoiser.schedule=learned",
               "measure-text-v2": "-m experiments.compare experiment=text_mdm_3m",
               "compare-genmd4": "-m experiments.genmd4_schedule path=weights/text-mdm-small-genmd4",
               # issue 14 on text: train_planner with planner=text_fewstep runs tiny in
               # tests/test_text_entry_points.py, nll_bound_fewstep's pairing in
               # tests/test_shipped_text_v2.py
               "train-text-fewstep": "planner=text_fewstep train=planner_text_fewstep",
               "compare-text-fewstep": "--config-name nll_bound_fewstep eval.threads=1 data.path=test",
               # session 10: train_correctness runs tiny in tests/test_correctness.py; the ALiBi
               # BERT through train_denoiser is built and saved tiny in tests/test_position_bias.py
               "train-correctness": "-m experiments.train_correctness train.threads=1",
               "compare-fewstep-correct": "-m experiments.compare experiment=sudoku_fewstep_correct",
               "train-text-hf-alibi": "denoiser=hf_bert_text_alibi train=text_hf_alibi",
               # session 11: the VI planner on the correctness view (train_planner runs tiny with
               # it in tests/test_vi_fewstep_correct.py) and the learned restarts' bar
               "train-planner-fewstep-correct": "planner=sudoku_fewstep_correct train=planner_fewstep",
               "compare-fewstep-vi-correct": "-m experiments.compare experiment=sudoku_fewstep_vi_correct_trace",
               "compare-fix-learned": "-m experiments.compare experiment=sudoku_fix_learned"}


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke")


def run(cmd: list[str], cwd: Path, env: dict, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def commands_of(target: str, cwd: Path, env: dict) -> list[list[str]]:
    listed = run([*MAKE, "-n", target], cwd, env, timeout=60)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    lines = [shlex.split(line) for line in listed.stdout.splitlines() if " -m experiments." in line]
    assert lines, f"make -n {target} lists no entry point:\n{listed.stdout}"
    return lines


def test_every_make_target_is_covered():
    assert make_targets() == set(RUN_TARGETS) | set(LISTED_ONLY) | {"clean"}


@pytest.mark.parametrize("target", RUN_TARGETS)
def test_make_target(target, work, python_env):
    for cmd in commands_of(target, work, python_env):
        module = cmd[cmd.index("-m") + 1].removeprefix("experiments.")
        args = [a if not a.startswith("export_to=") else f"export_to={work / a.split('=', 1)[1]}"
                for a in cmd[cmd.index("-m") + 2:]]
        assert cmd[0] == f"{VENV}/bin/python", cmd          # the Makefile's $(PY)
        full = [sys.executable, "-m", f"experiments.{module}", *args, *tiny(module, args)]
        proc = run(full, work, python_env)
        assert proc.returncode == 0, f"{shlex.join(full)}\n{proc.stdout[-3000:]}{proc.stderr[-5000:]}"
    if target == "bench":
        assert "== estimators ==" in proc.stdout and "OneStepLOO_ELBO" in proc.stdout


@pytest.mark.parametrize("target", sorted(LISTED_ONLY))
def test_make_target_listed(target, work, python_env):
    listed = run([*MAKE, "-n", target], work, python_env, timeout=60)
    assert listed.returncode == 0 and LISTED_ONLY[target] in listed.stdout + listed.stderr, \
        listed.stdout + listed.stderr


ENTRY_POINTS = {
    "evaluate": ["data.limit=2", "eval.threads=1", "hydra.run.dir=runs/evaluate/smoke"],
    "failures": ["data.limit=2", "eval.threads=1"],
    "token_frequency": ["n_sequences=4", "task.pool_size=20", "out={work}/background.json"],
}


@pytest.mark.parametrize("module", sorted(ENTRY_POINTS))
def test_entry_point_outside_the_makefile(module, work, python_env):
    args = [a.format(work=work) for a in ENTRY_POINTS[module]]
    proc = run([sys.executable, "-m", f"experiments.{module}", *args], work, python_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]


def test_second_evaluate_into_one_folder_is_refused(work, python_env):
    folder = work / "runs" / "evaluate" / "smoke"
    before = (folder / "results.json").read_text()
    proc = run([sys.executable, "-m", "experiments.evaluate", "data.limit=3",
                f"hydra.run.dir={folder}"], work, python_env)
    assert proc.returncode != 0
    assert f"the run folder {folder} already holds a run (results.json)" in proc.stderr
    assert (folder / "results.json").read_text() == before
    assert OmegaConf.load(folder / ".hydra" / "config.yaml").data.limit == 2


def test_rerun_without_resume_is_refused(work, python_env):
    folder = work / "runs" / "train_denoiser" / "sudoku"
    last = (folder / "checkpoints" / "last.pt").read_bytes()
    proc = run([sys.executable, "-m", "experiments.train_denoiser", "task=sudoku",
                *tiny("train_denoiser", [])], work, python_env)
    assert proc.returncode != 0
    assert "already holds a run (checkpoints/last.pt, model): pass resume=true" in proc.stderr
    assert (folder / "checkpoints" / "last.pt").read_bytes() == last


def test_resume_with_another_lr_is_refused_and_more_steps_recorded(work, python_env):
    base = ["-m", "experiments.train_planner", "planner=sudoku_factor", "train.threads=1",
            *tiny("train_planner", []), "resume=true"]
    proc = run([sys.executable, *base, "train.lr=0.5", "train.batch_size=3"], work, python_env)
    assert proc.returncode != 0
    assert ("train.batch_size: 2 in the checkpoint, 3 now; train.lr: 0.003 in the checkpoint, "
            "0.5 now") in proc.stderr
    proc = run([sys.executable, *base, "train.steps=3"], work, python_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    trained = json.loads((work / "runs" / "train_planner" / "sudoku" / "planner" / "config.json")
                         .read_text())["trained"]
    assert trained["steps"] == 3 and len(trained["commands"]) == 2
    assert trained["commands"][1].endswith("resume=true train.steps=3")


def test_log_files_are_not_empty(work):
    logs = list((work / "runs").rglob("*.log"))
    assert len(logs) >= 12
    assert [p for p in logs if p.stat().st_size == 0] == []


def test_bad_values_on_the_command_line(work, python_env):
    proc = run([sys.executable, "-m", "experiments.evaluate", "seed=abc",
                "hydra.run.dir=runs/evaluate/bad"], work, python_env)
    assert proc.returncode != 0 and "seed must be an integer, got 'abc'" in proc.stderr
    assert "seed must be an integer, got 'abc'" in (work / "runs/evaluate/bad/evaluate.log").read_text()


@pytest.mark.parametrize("name", ["bench", "compare", "curves", "evaluate", "failures", "genmd4_schedule", "nll_bound",
                                  "remask_signal", "token_frequency", "train_ar", "train_denoiser",
                                  "train_planner"])
def test_help_template(name):
    from hydra import compose, initialize_config_dir
    with initialize_config_dir(str(REPO / "experiments" / "configs"), version_base=None):
        cfg = compose(name, return_hydra_config=True)
    text = cfg.hydra.help.template
    assert text.startswith(f"python -m experiments.{name}: ")
    assert "Main keys:" in text and f"Example:\n  python -m experiments.{name}" in text
    assert "$CONFIG" in text and "$APP_CONFIG_GROUPS" not in text


def test_make_clean(work, python_env):
    fake = work / "venv-to-clean"
    fake.mkdir()
    proc = run(["make", "-f", str(REPO / "Makefile"), f"VENV={fake}", "clean"], work, python_env)
    assert proc.returncode == 0, proc.stderr
    assert not fake.exists() and not (work / "runs").exists()
