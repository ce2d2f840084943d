"""The alternation task: its data, checker and evaluation sets, and what the exact denoiser
does on it (one position per step costs NFE = length; the threshold rule needs 2 calls)."""
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import experiments
from denoiser import FrozenDenoiser
from experiments.compare import sweep_points
from experiments.evaluation import run_policy
from planner.background import load_frequency
from planner.registry import load_policy
from policy_fixtures import AlternationDenoiser
from tasks.alternation import A, B, MASK_ID, AlternationTask

TASK = AlternationTask()       # length 16, unconditional
ABAB = torch.tensor([A, B] * 8)
BABA = torch.tensor([B, A] * 8)
CONFIGS = Path(experiments.__file__).parent / "configs"


def test_vocabulary_and_length():
    assert (TASK.length, TASK.vocab_size, TASK.mask_id, TASK.structure) == (16, 3, 0, "sequence")


def test_training_data_is_the_two_phases_half_and_half():
    x = TASK.train_batch(4000, torch.Generator().manual_seed(0))
    is_abab, is_baba = (x == ABAB).all(1), (x == BABA).all(1)
    assert (is_abab | is_baba).all()
    # a fair coin: 2000 +- 4.5 * sqrt(4000 / 4)
    assert abs(int(is_abab.sum()) - 2000) <= 4.5 * 1000 ** 0.5
    assert torch.equal(x[:50], TASK.train_batch(50, torch.Generator().manual_seed(0))[:50])


def test_correct_on_hand_made_sequences():
    prompts = torch.zeros(4, 16, dtype=torch.long)
    broken = ABAB.clone()
    broken[5] = broken[4]
    with_mask = ABAB.clone()
    with_mask[3] = MASK_ID
    samples = torch.stack([ABAB, BABA, broken, with_mask])
    assert TASK.correct(samples, prompts).tolist() == [True, True, False, False]
    given_a_first = torch.zeros(2, 16, dtype=torch.long)
    given_a_first[:, 0] = A
    assert TASK.correct(torch.stack([ABAB, BABA]), given_a_first).tolist() == [True, False]


def test_eval_data_and_planner_batch():
    data = TASK.load_eval("validation", 10)
    assert data.prompts.shape == (10, 16) and (data.prompts == MASK_ID).all()
    assert TASK.correct(data.references, data.prompts).all() and data.buckets == {}
    x, masked = TASK.planner_batch(6, torch.Generator().manual_seed(0))
    assert masked.all() and TASK.correct(x, torch.zeros_like(x)).all()
    three = AlternationTask(givens=3).load_eval("test", 50)
    assert ((three.prompts != MASK_ID).sum(1) == 3).all()
    kept = three.prompts != MASK_ID
    assert torch.equal(three.prompts[kept], three.references[kept])
    assert torch.equal(three.prompts, AlternationTask(givens=3).load_eval("test", 50).prompts)
    _, masked = TASK.planner_batch(6, torch.Generator().manual_seed(0), givens=(1, 2))
    assert set((~masked).sum(1).tolist()) <= {1, 2}


def test_bad_inputs_name_the_value():
    with pytest.raises(ValueError, match=r"one of \('validation', 'test'\), got 'valid'"):
        TASK.load_eval("valid")
    with pytest.raises(ValueError, match="length must be an integer >= 2, got 1"):
        AlternationTask(length=1)
    with pytest.raises(ValueError, match=r"givens must be an integer in \[0, 15\].*got 16"):
        AlternationTask(givens=16)
    with pytest.raises(ValueError, match=r"givens must be an int or a range within \[0, 15\], got \(17, 40\)"):
        TASK.planner_batch(2, torch.Generator(), (17, 40))


def test_render():
    assert TASK.render(ABAB) == "ABABABABABABABAB"
    assert TASK.render(torch.tensor([A, 0, B] + [0] * 13)) == "A_B" + "_" * 13
    with pytest.raises(ValueError, match="token id 3 is outside"):
        TASK.render(torch.full((16,), 3))


def test_exact_denoiser_one_per_step_versus_threshold():
    frozen = FrozenDenoiser(AlternationDenoiser(16))
    assert TASK.validation_metrics(frozen, limit=20) == {"accuracy": 1.0, "nfe": 16.0}
    data = TASK.load_eval("validation", 20)
    run = run_policy(TASK, frozen, load_policy("threshold", tau=0.9), data)
    assert run.correct.all() and (run.nfe == 2).all()


@pytest.mark.parametrize("name, vocab", [("alternation", 3), ("addition", 13)])
def test_compare_experiment_composes_with_its_task_and_background(name, vocab):
    with initialize_config_dir(str(CONFIGS), version_base=None):
        cfg = compose(config_name="compare", overrides=[f"experiment={name}_compare"])
    assert cfg.task._target_.endswith(f"{name.capitalize()}Task")
    assert cfg.denoiser.path.endswith(f"weights/{name}-mdm")
    assert cfg.data.path == "validation"
    points = sweep_points(OmegaConf.to_container(cfg.sweep, resolve=True))
    pc = [o for n, _, o in points if n == "pc"]
    assert pc and all(o["frequency"] == f"weights/background/{name}.json" for o in pc)
    assert load_frequency(experiments.REPO_ROOT / pc[0]["frequency"], vocab).numel() == vocab
