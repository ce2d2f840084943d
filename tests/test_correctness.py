"""The correctness planner (issue 14): its inputs by hand, its checkpoint, its factor budget,
and its training entry point (a tiny run that resumes to the same weights as a run in one go)."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from denoiser.base import FrozenDenoiser
from planner import load_policy, sample
from planner.policy import Selection
from tests.policy_fixtures import ToyDenoiser, make_ctx, toy_correctness_path, toy_planner_path
from vi.correctness import CorrectnessNet, load_correctness, save_correctness
from vi.unit_features import GROUP_FEATURES, OWN_FEATURES, cell_features, group_membership, n_features

ROOT = Path(__file__).resolve().parents[1]


def logit(p):
    return math.log(p) - math.log(1 - p)


def test_features_of_a_three_position_sequence_by_hand():
    # vocab {mask, a, b}; positions 0 and 1 masked, 2 filled; one window group holds all three
    probs = torch.tensor([[[0.0, 0.7, 0.3], [0.0, 0.4, 0.6], [0.0, 0.9, 0.1]]])
    masked = torch.tensor([[True, True, False]])
    initial = torch.tensor([[True, True, True]])
    f = cell_features(probs, masked, initial, "sequence")[0]
    assert f.shape == (3, len(OWN_FEATURES) + len(GROUP_FEATURES)) == (3, n_features("sequence"))
    own, group = f[:, :5], f[:, 5:]
    # position 0: top a (0.7), margin 0.4, second 0.3; 2 of 3 still masked
    expected0 = [logit(0.7), logit(0.4), -(0.7 * math.log(0.7) + 0.3 * math.log(0.3)), logit(0.3), 2 / 3]
    assert own[0].tolist() == pytest.approx(expected0, rel=1e-5)
    # its token a: the only other masked mate (position 1) gives it 0.4; position 2 is filled
    # and does not count; 1 of its 2 mates is masked; share 0.7 / (0.7 + 0.4)
    assert group[0].tolist() == pytest.approx([0.4, 0.4, 0.5, 0.7 / 1.1], rel=1e-5)
    # position 1: token b; position 0 gives b 0.3
    assert group[1].tolist() == pytest.approx([0.3, 0.3, 0.5, 0.6 / 0.9], rel=1e-5)


def test_sudoku_groups_are_row_column_and_box_without_the_cell():
    g = group_membership("sudoku", 81)
    assert g.shape == (3, 81, 81)
    assert (g.sum(-1) == 8).all() and (g.diagonal(dim1=1, dim2=2) == 0).all()
    assert g[0, 0, 8] == 1 and g[1, 0, 72] == 1 and g[2, 0, 20] == 1 and g[2, 0, 30] == 0
    assert (g.amax(0).sum(-1) == 20).all()      # the 20 peers of every cell
    with pytest.raises(ValueError, match="81 positions"):
        group_membership("sudoku", 80)
    with pytest.raises(ValueError, match="structure must be one of"):
        CorrectnessNet("grid")


def test_sudoku_features_by_unit_equal_the_membership_sums():
    """The Sudoku path sums over the 9 members of each unit (`_partition_features`); it gives
    the features of the [81, 81] membership sums of the general path, to float32 rounding."""
    torch.manual_seed(0)
    logits = torch.randn(4, 81, 10) * 3
    logits[..., 0] = float("-inf")
    probs = logits.softmax(-1)
    masked = torch.rand(4, 81) < 0.6
    initial = masked | (torch.rand(4, 81) < 0.2)
    fast = cell_features(probs, masked, initial, "sudoku")[..., len(OWN_FEATURES):]
    groups = group_membership("sudoku", 81)
    p1, token = probs.max(-1)
    q = probs.gather(-1, token[:, None, :].expand(4, 81, 81)).transpose(1, 2) * masked[:, None, :]
    expected = []
    for g in groups:
        mass = (q * g).sum(-1)
        expected += [mass, (q * g).amax(-1), (g * masked[:, None, :]).sum(-1) / 8, p1 / (p1 + mass)]
    assert torch.allclose(fast, torch.stack(expected, -1), atol=1e-6, rtol=0)


def test_checkpoint_round_trip_and_refusals(tmp_path):
    den = ToyDenoiser()
    frozen = FrozenDenoiser(den)
    torch.manual_seed(1)
    net = CorrectnessNet("sequence", hidden=8, layers=2)
    net.set_normalisation(torch.randn(50, n_features("sequence")))
    save_correctness(tmp_path / "c", net, frozen)
    back, config = load_correctness(tmp_path / "c", frozen)
    x = torch.randn(4, n_features("sequence"))
    assert torch.equal(back.logits_of(x), net.logits_of(x))
    assert config["net"] == {"structure": "sequence", "hidden": 8, "layers": 2}
    with pytest.raises(ValueError, match="trained for another denoiser"):
        load_correctness(tmp_path / "c", FrozenDenoiser(ToyDenoiser(seed=5)))
    with pytest.raises(ValueError, match="expected 'correctness_planner'"):
        load_correctness(toy_planner_path(den))
    with pytest.raises(ValueError, match="trained for another denoiser"):
        sample(ToyDenoiser(seed=5), load_policy("learned_correct", path=str(tmp_path / "c")),
               torch.zeros(1, 12, dtype=torch.long))


def factor_count(s: torch.Tensor, masked: torch.Tensor, f: float) -> int:
    """The factor rule's count by hand: the largest n with (n + 1)(1 - s(n)) <= f, at least 1."""
    order = sorted(torch.nonzero(masked).flatten().tolist(), key=lambda i: -float(s[i]))
    return max([k for k in range(1, len(order) + 1) if (k + 1) * (1 - float(s[order[k - 1]])) <= f]
               or [1])


def factor_take(c: torch.Tensor, masked: torch.Tensor, n: int) -> torch.Tensor:
    """The top n masked positions by c."""
    order = sorted(torch.nonzero(masked).flatten().tolist(), key=lambda i: -float(c[i]))
    chosen = torch.zeros_like(masked)
    chosen[order[:n]] = True
    return chosen


@pytest.mark.parametrize("count", ["margin", "correctness"])
@pytest.mark.parametrize("f", [0.3, 1.0, 2.5])
def test_the_policy_takes_the_cells_of_highest_probability(tmp_path, f, count):
    """The top cells by the network's c; as many as the factor rule on the margin (count
    "margin") or on c ("correctness") takes."""
    den = ToyDenoiser()
    frozen = FrozenDenoiser(den)
    torch.manual_seed(2)
    net = CorrectnessNet("sequence", hidden=8, layers=1)
    torch.nn.init.normal_(net.mlp[-1].weight, std=3.0)
    save_correctness(tmp_path / "c", net, frozen)
    policy = load_policy("learned_correct", path=str(tmp_path / "c"), f=f, count=count)
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(3, 12, 10, generator=g) * 2, -1)
    probs[..., 0] = 0
    probs = probs / probs.sum(-1, keepdim=True)
    masked = torch.rand(3, 12, generator=g) < 0.7
    masked[:, 0] = True
    ctx = make_ctx(probs, masked=masked, initial_masked=torch.ones(3, 12, dtype=torch.bool))
    sel = policy.select(ctx)
    assert isinstance(sel, Selection)
    with torch.no_grad():
        c = torch.sigmoid(net.logits_of(cell_features(ctx.probs, masked, ctx.initial_masked, "sequence")))
    margin = ctx.probs.topk(2, -1).values
    margin = margin[..., 0] - margin[..., 1]
    for b in range(3):
        n = factor_count((margin if count == "margin" else c)[b].double(), masked[b], f)
        assert torch.equal(sel.chosen[b], factor_take(c[b].double(), masked[b], n))
    with pytest.raises(ValueError, match="count must be one of"):
        load_policy("learned_correct", path=str(tmp_path / "c"), count="all")


def test_an_untrained_planner_takes_one_cell_at_small_f():
    den = ToyDenoiser()
    out = sample(den, load_policy("learned_correct", path=toy_correctness_path(den), f=0.5,
                                  count="correctness"),
                 torch.zeros(2, 12, dtype=torch.long))
    assert (out.nfe == 12).all() and not (out.tokens == 0).any()


def run_train(tmp_path: Path, name: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "experiments.train_correctness", f"hydra.run.dir={tmp_path / name}",
         "train.puzzles=8", "train.iterations=10", "train.val_limit=4", "train.collect_f=[2.5]",
         "train.self_f=[2.5]", "train.log_every=5", "train.threads=1", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_training_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    whole = run_train(tmp_path, "whole", "train.rounds=2", f"export_to={tmp_path / 'export'}")
    assert whole.returncode == 0, whole.stderr[-2000:]
    part = run_train(tmp_path, "part", "train.rounds=1")
    assert part.returncode == 0, part.stderr[-2000:]
    again = run_train(tmp_path, "part", "train.rounds=1")
    assert again.returncode != 0 and "already holds a run" in again.stderr
    rest = run_train(tmp_path, "part", "train.rounds=2", "resume=true")
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert "resumed from" in rest.stdout and "round 0:" not in rest.stdout.split("resumed from")[1]
    a, _ = load_correctness(tmp_path / "whole" / "model")
    b, config = load_correctness(tmp_path / "part" / "model")
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(v, w), k
    assert config["trained"]["rounds"] == 2 and 0 <= config["trained"]["val_accuracy"] <= 1
    exported, record = load_correctness(tmp_path / "export")
    assert "experiments.train_correctness" in record["trained"]["command"]
    tb = list((tmp_path / "whole" / "tb").glob("events.out.tfevents.*"))
    assert tb


def test_training_refuses_bad_knobs(tmp_path):
    out = run_train(tmp_path, "bad", "train.collect_f=[]")
    assert out.returncode != 0 and "train.collect_f must be a non-empty list" in out.stderr


def test_training_puzzles_are_never_the_bar_or_validation_rows():
    from omegaconf import OmegaConf

    from experiments.settings import CorrectnessTrainSettings
    from experiments.train_correctness import PuzzleSource
    from tasks.sudoku import SudokuTask

    task = SudokuTask(pool_size=10)
    data = OmegaConf.create({"source": "file", "path": "sudoku/rrn_style_valid_18000.csv",
                             "exclude_spread": 2000})
    source = PuzzleSource(task, data, CorrectnessTrainSettings(), torch.Generator(), 256)
    bar = task.load_eval(data.path, 2000, "spread").prompts
    val = task.load_eval(data.path, 256, "spread").prompts
    taken = torch.cat([source.next(4000)[1], source.next(4000)[1]])
    assert source.cursor == 8000 and taken.shape == (8000, 81)
    seen = {tuple(r) for r in taken.tolist()}
    assert not seen & {tuple(r) for r in bar.tolist()}
    assert not seen & {tuple(r) for r in val.tolist()}
    with pytest.raises(ValueError, match="needs more puzzles"):
        source.next(10_000)
    with pytest.raises(ValueError, match="data.source must be one of"):
        PuzzleSource(task, OmegaConf.create({"source": "csv"}), CorrectnessTrainSettings(),
                     torch.Generator(), 256)
