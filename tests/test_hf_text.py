"""The Hugging Face path for text: a BertForMaskedLM over the text task's characters, saved
with save_pretrained, read back through `load_denoiser` and sampled with every heuristic."""
from pathlib import Path

import pytest
import torch

import planner
from denoiser import FrozenDenoiser, load_denoiser
from denoiser.hf_build import bert_masked_lm
from experiments.evaluation import frozen_for_task
from tasks.text import TextTask

transformers = pytest.importorskip("transformers")

SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "text-hf-mlm"
PC_FREQ = str(Path(__file__).resolve().parent.parent / "weights" / "background" / "text.json")
# every heuristic; `learned` is the Sudoku planner, tied to the Sudoku denoiser
HEURISTICS = [n for n in planner.policy_names() if not n.startswith("learned")]


def policy(name: str, vocab_size: int = 66):
    if name == "pc":
        return planner.load_policy(name, frequency=PC_FREQ)
    if name == "genmd4":        # these models have MD4's linear schedule: GenMD4 with w = 1
        return planner.load_policy(name, power=[1.0] * vocab_size)
    return planner.load_policy(name)


@pytest.fixture(scope="module")
def task(data_dir):
    return TextTask()


def sample_every_policy(den, task, n_generated: int):
    data = task.load_eval("validation", limit=2)
    prompts = data.references.clone()
    prompts[:, -n_generated:] = task.mask_id
    for name in HEURISTICS:
        chosen = policy(name)
        out = planner.sample(den, chosen, prompts, temperature=1.0,
                             generator=torch.Generator().manual_seed(0))
        assert not (out.tokens == task.mask_id).any(), name
        assert torch.equal(out.tokens[:, :-n_generated], prompts[:, :-n_generated]), name
        bound = chosen.max_nfe if chosen.revises else n_generated   # a revising policy's own
        assert (out.nfe >= 1).all() and (out.nfe <= bound).all(), name
        assert (out.order[:, -n_generated:] >= 0).all() and (out.order[:, :-n_generated] == -1).all()


def test_tiny_bert_round_trip_and_every_policy(tmp_path, task):
    torch.manual_seed(0)
    built = bert_masked_lm(task.vocab_size, task.mask_id, task.length, vocabulary=task.vocabulary,
                           hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32)
    built.save_pretrained(tmp_path / "bert")
    assert sorted(p.name for p in (tmp_path / "bert").iterdir()) == ["config.json", "model.safetensors"]
    den = load_denoiser(tmp_path / "bert")
    assert (den.kind, den.mask_id, den.vocab_size, den.max_length) == ("masked_lm", 65, 66, 128)
    assert den.vocabulary == task.vocabulary
    x = task.load_eval("validation", limit=2).prompts
    with torch.no_grad():
        assert torch.allclose(built.eval()(x).logits, den(x).logits, atol=1e-5)
    frozen = frozen_for_task(den, task)
    sample_every_policy(frozen, task, n_generated=12)


def test_bert_for_another_structure_is_refused(task):
    with pytest.raises(ValueError, match="structure must be 'sequence', got 'sudoku'"):
        bert_masked_lm(10, 0, 81, structure="sudoku")


def test_shipped_hf_text_model_loads_and_samples_with_every_policy(task):
    if not SHIPPED.is_dir():
        pytest.fail(f"the shipped Hugging Face text model is missing: expected {SHIPPED}")
    den = frozen_for_task(load_denoiser(SHIPPED), task)
    assert isinstance(den, FrozenDenoiser) and den.model.kind == "masked_lm"
    sample_every_policy(den, task, n_generated=16)
