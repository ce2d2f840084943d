"""PC-sampler weights, and the background frequency it reads."""
from __future__ import annotations

import json

import pytest
import torch

from experiments.token_frequency import compute, output_path
from planner import load_policy
from planner.background import load_frequency, save_frequency, token_frequency
from planner.policies.pc import PCSampler, REPO_ROOT
from policy_fixtures import make_ctx
from tasks.sudoku import SudokuTask

# vocabulary {mask, 1, 2, 3}, background frequency f_bg = [.1, .5, .25, .15]
FREQ = [0.1, 0.5, 0.25, 0.15]


def test_weights_by_hand():
    """lambda = 0.5, alpha = 1.5; position 0 is a given, so pos_i = i - 1.
    i=1: v1 = 1, p .8:  min(-.8 ln .5, 1.5)  = 0.5545          * e^0    = 0.5545
    i=2: v1 = 2, p .9:  min(-.9 ln .25, 1.5) = 1.2477          * e^-0.5 = 0.7568
    i=3: v1 = 3, p .95: min(-.95 ln .15 = 1.8023, 1.5) = 1.5   * e^-1   = 0.5518
    i=4: v1 = 1, p .6:  min(-.6 ln .5, 1.5)  = 0.4159          * e^-1.5 = 0.0928
    """
    probs = torch.tensor([[[0, .7, .2, .1], [0, .8, .1, .1], [0, .05, .9, .05],
                           [0, .025, .025, .95], [0, .6, .3, .1]]])
    masked = torch.tensor([[False, True, True, True, True]])
    policy = PCSampler(lam=0.5, alpha=1.5, frequency=FREQ)
    selection = policy.select(make_ctx(probs, masked=masked), None)
    assert torch.allclose(selection.scores[0, 1:].float(),
                          torch.tensor([0.5545, 0.7568, 0.5518, 0.0928]), atol=1e-4)
    assert torch.nonzero(selection.chosen[0]).squeeze(1).tolist() == [2]


def test_position_counts_from_the_first_masked_position_givens_included():
    """initial masks at 1 and 3 (a given at 2): pos = 0 and 2; equal calibrated confidences
    -.8 ln .5 = 0.5545, so the scores are 0.5545 and 0.5545 e^-2 = 0.0750."""
    probs = torch.tensor([[[0, .8, .1, .1]] * 4])
    masked = torch.tensor([[False, True, False, True]])
    policy = PCSampler(lam=1.0, alpha=10.0, frequency=FREQ)
    scores = policy.select(make_ctx(probs, masked=masked), None).scores[0]
    assert torch.allclose(scores[[1, 3]].float(), torch.tensor([0.5545, 0.0750]), atol=1e-4)


def test_lambda_zero_and_large_alpha_is_calibrated_confidence():
    """With lambda 0 the order is by -p(v1) log f(v1): .6 at a rare token (f .15, 1.1383) beats
    .9 at a common one (f .5, 0.6238)."""
    probs = torch.tensor([[[0, .9, .05, .05], [0, .2, .2, .6]]])
    chosen = PCSampler(lam=0.0, frequency=FREQ).select(make_ctx(probs), None).chosen
    assert chosen[0].tolist() == [False, True]


def test_token_frequency_by_hand():
    """Counts without the mask 0: token 1: 3, token 2: 1, token 3: 1. Add-one smoothing:
    [0+1, 3+1, 1+1, 1+1] / 9."""
    tokens = torch.tensor([[1, 1, 2, 0], [3, 1, 0, 0]])
    freq = token_frequency(tokens, 4, exclude=(0,), smoothing=1.0)
    assert torch.allclose(freq, torch.tensor([1, 4, 2, 2], dtype=torch.float64) / 9)


def test_save_and_load(tmp_path):
    path = tmp_path / "sub" / "freq.json"
    freq = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)
    save_frequency(path, freq, {"task": "toy"})
    assert torch.equal(load_frequency(path, 3), freq)
    assert json.loads(path.read_text())["meta"] == {"task": "toy"}
    assert [p.name for p in path.parent.iterdir()] == ["freq.json"]     # no temporary left
    with pytest.raises(ValueError, match="vocab_size=3, but 4 was expected"):
        load_frequency(path, 4)
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="is not a token frequency file"):
        load_frequency(path)
    path.write_text("not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_frequency(path)


def test_token_frequency_errors():
    with pytest.raises(ValueError, match="token id 5 is outside the vocabulary"):
        token_frequency(torch.tensor([[1, 5]]), 4)
    with pytest.raises(ValueError, match="smoothing must be > 0"):
        token_frequency(torch.tensor([[1, 2]]), 4, smoothing=0.0)
    with pytest.raises(TypeError, match="integer tensor"):
        token_frequency(torch.tensor([[1.0, 2.0]]), 4)


def test_sudoku_frequency_from_the_task():
    """Every complete grid holds each digit 9 times: f(d) = (81 n / 9 + 1) / (81 n + 10)."""
    n = 4
    freq, meta = compute(SudokuTask(pool_size=3), n, seed=0, smoothing=1.0)
    assert torch.allclose(freq[1:], torch.full((9,), (81 * n / 9 + 1) / (81 * n + 10), dtype=torch.float64))
    assert freq[0] == pytest.approx(1 / (81 * n + 10))
    assert meta["task"] == "sudoku" and meta["excluded"] == [0]
    assert output_path(None, "sudoku") == REPO_ROOT / "weights" / "background" / "sudoku.json"


def test_default_config_reads_the_saved_sudoku_file():
    policy = load_policy("pc")
    assert policy.frequency == "weights/background/sudoku.json"
    assert torch.allclose(policy.score.log_freq.exp(),
                          load_frequency(REPO_ROOT / "weights/background/sudoku.json", 10))


def test_entry_point_runs(tmp_path, python_env, python_exe, repo_root):
    """`python -m experiments.token_frequency` with tiny arguments writes a loadable file."""
    import subprocess
    out = tmp_path / "bg.json"
    done = subprocess.run([python_exe, "-m", "experiments.token_frequency", "task.pool_size=2",
                           "n_sequences=3", f"out={out}", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=repo_root, env=python_env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    freq = load_frequency(out, 10)
    assert torch.allclose(freq[1:], torch.full((9,), (27 + 1) / (243 + 10), dtype=torch.float64))
    assert json.loads(out.read_text())["meta"]["n_sequences"] == 3
