"""The addition task: generated sums checked by Python integers, carries counted by hand,
disjoint splits, the checker, the evaluation data, and training + evaluation end to end."""
import json

import pytest
import torch

from tasks.addition import DIGIT0, EQUALS, MASK_ID, PLUS, AdditionTask, add_digits, split_bucket
from conftest import run_module

TASK = AdditionTask()          # max_digits 8: length 27
ANSWER = slice(18, 27)


def to_int(tokens) -> int:
    """Digit tokens, most significant first -> the integer (an independent route: str / int)."""
    return int("".join(str(int(t) - DIGIT0) for t in tokens))


def equation(x: torch.Tensor) -> tuple[int, int, int]:
    return to_int(x[0:8]), to_int(x[9:17]), to_int(x[18:27])


def sequence(a: int, b: int, c: int | None = None) -> torch.Tensor:
    """`a+b=c` built from decimal strings (c defaults to a + b)."""
    c = a + b if c is None else c
    text = f"{a:08d}+{b:08d}={c:09d}"
    ids = {"+": PLUS, "=": EQUALS, **{str(k): DIGIT0 + k for k in range(10)}}
    return torch.tensor([ids[ch] for ch in text])


def lsb_digits(n: int, d: int = 8) -> torch.Tensor:
    return torch.tensor([int(ch) for ch in reversed(f"{n:0{d}d}")])


def test_layout_and_vocabulary():
    assert (TASK.length, TASK.vocab_size, TASK.mask_id, TASK.structure) == (27, 13, 0, "sequence")
    assert AdditionTask(max_digits=3).length == 12


def test_training_sequences_are_true_sums():
    x = TASK.train_batch(2000, torch.Generator().manual_seed(1))
    assert x.shape == (2000, 27)
    assert (x[:, 8] == PLUS).all() and (x[:, 17] == EQUALS).all()
    for row in x:
        a, b, c = equation(row)
        assert a + b == c
    lengths = {len(str(equation(row)[0])) for row in x}
    assert lengths == set(range(1, 9))          # short and long operands both appear


@pytest.mark.parametrize("a, b, carries", [
    (99999999, 1, 8),       # every column carries
    (12, 34, 0),
    (15, 5, 1),             # 5 + 5 = 10 in the ones
    (95, 5, 2),             # ones carry, then 9 + 0 + 1 = 10
    (99999999, 99999999, 8),
    (50000000, 50000000, 1),  # only the top column: c has 9 digits
    (0, 0, 0),
])
def test_carries_counted_by_hand(a, b, carries):
    s, n = add_digits(lsb_digits(a)[None], lsb_digits(b)[None])
    assert int(n) == carries
    assert int("".join(str(int(d)) for d in reversed(s[0]))) == a + b


def test_same_seed_same_data():
    x1 = TASK.train_batch(64, torch.Generator().manual_seed(7))
    x2 = TASK.train_batch(64, torch.Generator().manual_seed(7))
    assert torch.equal(x1, x2)
    assert not torch.equal(x1, TASK.train_batch(64, torch.Generator().manual_seed(8)))
    v1, v2 = TASK.load_eval("validation", 50), TASK.load_eval("validation", 50)
    assert torch.equal(v1.prompts, v2.prompts) and v1.buckets == v2.buckets
    # the first rows do not depend on how many are asked for
    assert torch.equal(TASK.load_eval("validation", 20).references, v1.references[:20])


def test_splits_are_disjoint_from_training():
    train = {tuple(r) for r in TASK.train_batch(10_000, torch.Generator().manual_seed(0)).tolist()}
    val = {tuple(r) for r in TASK.load_eval("validation", 2000).references.tolist()}
    test = {tuple(r) for r in TASK.load_eval("test", 2000).references.tolist()}
    assert not train & val and not train & test and not val & test
    # one-digit operands: 100 sums in all, so the split is by pair, not by luck
    pairs = torch.tensor([(a, b) for a in range(10) for b in range(10)])
    buckets = split_bucket(torch.nn.functional.pad(pairs[:, :1], (0, 7)),
                           torch.nn.functional.pad(pairs[:, 1:], (0, 7)))
    assert 0 < int((buckets >= 90).sum()) < 30


def test_correct_on_hand_made_answers():
    prompt = sequence(12, 34).clone()
    prompt[ANSWER] = MASK_ID
    prompts = prompt.expand(4, -1)
    samples = torch.stack([
        sequence(12, 34),                 # 46: right
        sequence(12, 34, 47),             # wrong digit
        sequence(12, 43, 55),             # a true sum, but the given b changed
        sequence(12, 34).masked_fill(torch.arange(27) == 20, MASK_ID),  # a mask left
    ])
    assert TASK.correct(samples, prompts).tolist() == [True, False, False, False]
    carry = sequence(99999999, 1)
    assert equation(carry) == (99999999, 1, 100000000)
    assert TASK.correct(carry[None], carry[None].masked_fill(torch.arange(27) >= 18, 0)).tolist() == [True]


def test_load_eval_rejects_anything_but_a_split():
    with pytest.raises(ValueError, match=r"one of \('validation', 'test'\), got 'train'"):
        TASK.load_eval("train")
    with pytest.raises(ValueError, match="sudoku/rrn_style_valid_18000.csv"):
        TASK.load_eval("sudoku/rrn_style_valid_18000.csv")
    with pytest.raises(ValueError, match="limit must be a positive integer, got 0"):
        TASK.load_eval("validation", 0)
    with pytest.raises(ValueError, match="select must be"):
        TASK.load_eval("validation", 5, "middle")


def test_settings_are_validated():
    with pytest.raises(ValueError, match="max_digits must be an integer >= 1, got 0"):
        AdditionTask(max_digits=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got -1"):
        TASK.train_batch(-1, torch.Generator())
    with pytest.raises(ValueError, match=r"givens must be None, got \(17, 40\)"):
        TASK.planner_batch(2, torch.Generator(), (17, 40))


def test_eval_data_masks_exactly_the_answer():
    data = TASK.load_eval("test", 100)
    assert data.prompts.shape == data.references.shape == (100, 27)
    answer = torch.zeros(27, dtype=torch.bool)
    answer[ANSWER] = True
    assert torch.equal(data.prompts == MASK_ID, answer.expand(100, -1))
    assert torch.equal(data.prompts[:, ~answer], data.references[:, ~answer])
    assert set(data.buckets) == {"carries", "digits"}
    for row, carries, digits in zip(data.references, data.buckets["carries"], data.buckets["digits"]):
        a, b, _ = equation(row)
        assert int(digits) == max(len(str(a)), len(str(b)))
        # carries by the schoolbook rule on Python ints
        n, carry = 0, 0
        for j in range(8):
            carry = int((a // 10 ** j % 10 + b // 10 ** j % 10 + carry) >= 10)
            n += carry
        assert int(carries) == n
    assert TASK.correct(data.references, data.prompts).all()
    x, masked = TASK.planner_batch(5, torch.Generator().manual_seed(0))
    assert torch.equal(masked, answer.expand(5, -1))


def test_render():
    assert TASK.render(sequence(12, 34)) == "00000012+00000034=000000046"
    assert TASK.render(sequence(12, 34).masked_fill(torch.arange(27) >= 18, 0)) == \
        "00000012+00000034=_________"
    with pytest.raises(ValueError, match="token id 13 is outside"):
        TASK.render(torch.full((27,), 13))


def run(python_exe, env, module, *args):
    return run_module(python_exe, env, module, *args, timeout=120)


def test_train_then_evaluate_end_to_end(tmp_path, python_exe, python_env):
    run(python_exe, python_env, "experiments.train_denoiser", "task=addition", "task.val_limit=4",
        "denoiser=mdm_addition", "denoiser.d_model=16", "denoiser.n_layers=1", "denoiser.n_heads=2",
        "denoiser.d_ff=32", "train.steps=3", "train.batch_size=8", "train.warmup=1",
        "train.val_grids=8", "train.bf16=false", "train.threads=1", f"hydra.run.dir={tmp_path / 'train'}")
    model = tmp_path / "train" / "model"
    assert (model / "config.json").is_file()
    out = run(python_exe, python_env, "experiments.evaluate", "task=addition", "denoiser=addition",
              f"denoiser.path={model}", "data.path=validation", "data.limit=8", "show=1",
              f"hydra.run.dir={tmp_path / 'eval'}")
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert results["n"] == 8 and results["data"] == "addition-validation-d8-seed0"
    assert results["nfe_max"] == 9                    # top-k margin: one answer digit per step
    assert set(results["buckets"]) == {"carries", "digits"}
    assert sum(v["n"] for v in results["buckets"]["carries"].values()) == 8
    assert "+" in out and "=" in out                  # the rendered completion was shown
