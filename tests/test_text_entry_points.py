"""The text task through the entry points at a tiny size: compare (CSV, Markdown, PNG with gen
PPL against NFE), the NLL bound, and train_denoiser with a Hugging Face BERT built in place."""
import csv
import json

import pytest
import torch

from denoiser import MDMConfig, MDMTransformer, load_denoiser
from tasks.text import CharARConfig, CharARTransformer, TextTask
from conftest import run_module

L = 16   # a tiny window keeps every policy's loop short


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, shared_data):
    task = TextTask(length=L)
    root = tmp_path_factory.mktemp("text_models")
    torch.manual_seed(0)
    MDMTransformer(MDMConfig(vocab_size=task.vocab_size, mask_id=task.mask_id, max_length=L,
                             d_model=16, n_layers=1, n_heads=2, d_ff=32,
                             vocabulary=task.vocabulary)).save_pretrained(root / "mdm")
    CharARTransformer(CharARConfig(vocabulary=task.vocabulary, max_length=L, d_model=16,
                                   n_layers=1, n_heads=2, d_ff=32)).save_pretrained(root / "ar")
    return root


@pytest.mark.parametrize("experiment,prompt", [("text_compare", 0), ("text_continuation_compare", 4)])
def test_text_compare_writes_gen_ppl_tables_and_plot(tmp_path, python_exe, python_env, tiny_models,
                                                     experiment, prompt):
    sweep = ("sweep=[{policy:topk_margin,knob:steps,values:[null,4]},{policy:threshold,knob:tau,"
             "values:[0.9]},{policy:pc,fixed:{frequency:weights/background/text.json},knob:steps,"
             "values:[4]}]")
    out = run_module(python_exe, python_env, "experiments.compare", f"experiment={experiment}",
              f"denoiser.path={tiny_models / 'mdm'}", f"task.scorer={tiny_models / 'ar'}",
              f"task.length={L}", f"task.prompt_chars={prompt}", "data.limit=5", sweep,
              f"hydra.run.dir={tmp_path}")
    rows = list(csv.DictReader((tmp_path / "comparison.csv").open()))
    assert [(r["policy"], r["knob"]) for r in rows] == [
        ("topk_margin", "steps=None"), ("topk_margin", "steps=4"), ("threshold", "tau=0.9"),
        ("pc", "steps=4")]
    assert "accuracy" not in rows[0]
    assert float(rows[0]["nfe_mean"]) == L - prompt and float(rows[1]["nfe_max"]) <= 4
    for r in rows:
        # a random tiny model: its samples are near-uniform, so gen PPL under a near-uniform
        # scorer is near 65, and within the interval; entropy of <= 16 characters <= 4 bits
        assert float(r["gen_ppl_ci95_low"]) <= float(r["gen_ppl"]) <= float(r["gen_ppl_ci95_high"])
        assert 30 < float(r["gen_ppl"]) < 130
        assert 0 < float(r["entropy"]) <= 4.0
    md = (tmp_path / "comparison.md").read_text()
    assert "| policy | knob | gen PPL | 95% CI | entropy (bits) | 95% CI | mean NFE |" in md
    assert "The held-out references themselves: gen PPL" in md
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((tmp_path / "results.json").read_text())
    assert results[0]["primary"] == "gen_ppl" and results[0]["quality"]["gen_ppl"]["lower_is_better"]
    assert "gen PPL" in out


def test_nll_bound_entry_point(tmp_path, python_exe, python_env, tiny_models):
    out = run_module(python_exe, python_env, "experiments.nll_bound", f"denoiser.path={tiny_models / 'mdm'}",
              f"task.length={L}", "data.limit=4", "mc_draws=2", f"hydra.run.dir={tmp_path}")
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["orders"]) == {"random_order", "topk_margin"}
    for r in results["orders"].values():
        assert r["n"] == 4 and r["nfe_mean"] == L
        # an untrained model is near-uniform: about log2(65) = 6.02 bits per character
        assert 5.5 < r["bits_per_char"] < 6.6
    assert "bits/char" in out


def test_train_denoiser_builds_trains_and_exports_a_hf_bert(tmp_path, python_exe, python_env):
    run_module(python_exe, python_env, "experiments.train_denoiser", "task=text", f"task.length={L}",
        "denoiser=hf_bert_text", "denoiser.hidden_size=16", "denoiser.num_layers=1",
        "denoiser.num_heads=2", "denoiser.intermediate_size=32", "train=text_hf",
        "train.steps=3", "train.batch_size=4", "train.val_grids=4", "train.warmup=1",
        "task.val_limit=2", f"export_to={tmp_path / 'hf'}", f"hydra.run.dir={tmp_path / 'run'}")
    den = load_denoiser(tmp_path / "hf")
    assert type(den).__name__ == "HFMaskedDenoiser" and den.kind == "masked_lm"
    assert den.vocabulary == TextTask(length=L).vocabulary and den.mask_id == 65
    assert (tmp_path / "hf" / "config.json").is_file()
