"""experiments.remask_signal and the remasking oracles (vi/remask_oracle.py, vi/remask_policy.py)."""
import itertools
import json
import subprocess
import sys

import pytest
import torch

from experiments.remask_signal import roc_auc


def brute_auc(labels, scores):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_matches_the_pairwise_count_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.rand(40, generator=g) < 0.3
    scores = torch.randint(0, 5, (40,), generator=g).float()      # many ties
    assert roc_auc(labels, scores) == pytest.approx(brute_auc(labels.tolist(), scores.tolist()))
    assert roc_auc(torch.zeros(3, dtype=torch.bool), torch.rand(3)) is None


def test_oracle_remasker_solves_what_the_rule_solves_and_more():
    """On real puzzles the wrong-token oracle ends with the solution wherever the one-pass rule
    does, never touches a given, and stays within its bound."""
    from denoiser import load_denoiser
    from planner import sample
    from tasks.paths import resolve_data_path
    from tasks.sudoku import is_solved, load_sudoku_csv
    from vi.remask_oracle import FirstWrongStep, wrong_token_logits
    from vi.remask_policy import RemaskPlanner

    den = load_denoiser("weights/sudoku-mdm")
    data = load_sudoku_csv(resolve_data_path("sudoku/rrn_style_valid_18000.csv"), limit=40)
    puzzles, solutions = data.puzzles[:40:2], data.solutions[:40:2]
    plain = sample(den, "factor", puzzles)
    fixed = sample(den, RemaskPlanner(wrong_token_logits(solutions), "factor", {}, max_nfe=60),
                   puzzles)
    back = sample(den, FirstWrongStep(solutions, "factor", {}, max_nfe=60), puzzles)
    for out in (fixed, back):
        assert (out.nfe <= 60).all()
        given = puzzles != 0
        assert torch.equal(out.tokens[given], puzzles[given])
    solved_plain, solved_fixed = is_solved(plain.tokens, puzzles), is_solved(fixed.tokens, puzzles)
    assert (solved_fixed | ~solved_plain).all() and solved_fixed.sum() > solved_plain.sum()
    assert fixed.rewrites.sum() > 0


def test_first_wrong_step_refuses_bad_knobs():
    from vi.remask_oracle import FirstWrongStep
    refs = torch.ones(1, 81, dtype=torch.long)
    with pytest.raises(ValueError, match="ban must be one of"):
        FirstWrongStep(refs, ban="everything")
    with pytest.raises(ValueError, match="accept must be in"):
        FirstWrongStep(refs, accept=1.5)


def test_entry_point_writes_its_table_and_refuses_a_rerun(tmp_path, python_env):
    folder = tmp_path / "signal"
    cmd = [sys.executable, "-m", "experiments.remask_signal", "data.limit=4", "eval.threads=1",
           "max_nfe=30", f"hydra.run.dir={folder}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=python_env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((folder / "remask_signal.json").read_text())
    assert [r["name"] for r in result["rows"]][1:] == [
        "oracle: remask the wrong tokens", "oracle: back to the first wrong step",
        "backtrack (default portfolio)"]
    assert all(r["n"] == 4 and r["nfe_mean"] <= 30 for r in result["rows"])
    assert "Does the denoiser know its wrong tokens?" in (folder / "remask_signal.md").read_text()
    again = subprocess.run(cmd, capture_output=True, text=True, env=python_env, timeout=600)
    assert again.returncode != 0 and "already holds a run" in again.stderr


def test_remask_planner_draws_its_remask_set_and_keeps_givens():
    """sample=True draws the remask set from the Bernoulli probabilities; with the oracle's
    near-0/1 probabilities it makes the same choices as the deterministic rule."""
    from denoiser import load_denoiser
    from planner import sample
    from tasks.paths import resolve_data_path
    from tasks.sudoku import load_sudoku_csv
    from vi.remask_oracle import wrong_token_logits
    from vi.remask_policy import RemaskPlanner

    den = load_denoiser("weights/sudoku-mdm")
    data = load_sudoku_csv(resolve_data_path("sudoku/rrn_style_valid_18000.csv"), limit=12)
    outs = [sample(den, RemaskPlanner(wrong_token_logits(data.solutions), "factor", {},
                                      sample=drawn, max_nfe=40), data.puzzles,
                   generator=torch.Generator().manual_seed(0)) for drawn in (False, True)]
    assert torch.equal(outs[0].tokens, outs[1].tokens) and torch.equal(outs[0].nfe, outs[1].nfe)
    with pytest.raises(ValueError, match="threshold must be in"):
        RemaskPlanner(wrong_token_logits(data.solutions), threshold=1.0)
    with pytest.raises(ValueError, match="inner must name a one-pass"):
        RemaskPlanner(wrong_token_logits(data.solutions), inner="backtrack")
