"""The text task through the entry points at a tiny size: compare (CSV, Markdown, PNG with gen
PPL against NFE), the NLL bound, and train_denoiser with a Hugging Face BERT built in place."""
import csv
import re
import json

import pytest
import torch

from denoiser import MDMConfig, MDMTransformer, load_denoiser
from tasks.text import CharARConfig, CharARTransformer, TextTask
from conftest import run_module

L = 16   # a tiny window keeps every policy's loop short


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, data_dir):
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


BASELINE_ORDERS = ("orders=[{policy:random_k,label:random_order,draws:1},"
                   "{policy:topk_margin,label:topk_margin},"
                   "{policy:random_k,label:random_4,settings:{steps:4},reference:topk_margin}]")


def test_nll_bound_entry_point(tmp_path, python_exe, python_env, tiny_models):
    out = run_module(python_exe, python_env, "experiments.nll_bound", f"denoiser.path={tiny_models / 'mdm'}",
              f"task.length={L}", "data.limit=4", "mc_draws=2", BASELINE_ORDERS,
              f"hydra.run.dir={tmp_path}")
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results["orders"]) == {"random_order", "topk_margin", "random_4"}
    assert results["orders"]["random_4"]["nfe_mean"] == 4
    for r in results["orders"].values():
        assert r["n"] == 4 and r["nfe_mean"] in (L, 4)
        # an untrained model is near-uniform: about log2(65) = 6.02 bits per character
        assert 5.5 < r["bits_per_char"] < 6.6
    # the paired difference from the first order is the difference of the means, and its
    # interval brackets it
    o = results["orders"]
    d = o["topk_margin"]["minus_random_order"]
    assert d["bits_per_char"] == pytest.approx(o["topk_margin"]["bits_per_char"]
                                               - o["random_order"]["bits_per_char"], abs=1e-9)
    assert d["bits_ci95"][0] <= d["bits_per_char"] <= d["bits_ci95"][1]
    assert "minus_random_order" not in o["random_order"]
    # an order paired with the reference it names, not the first
    d4 = o["random_4"]["minus_topk_margin"]
    assert "minus_random_order" not in o["random_4"]
    assert d4["bits_per_char"] == pytest.approx(o["random_4"]["bits_per_char"]
                                                - o["topk_margin"]["bits_per_char"], abs=1e-9)
    assert "bits/char" in out and "against random_order on the same windows" in out


def test_nll_bound_refuses_a_reference_that_is_not_an_earlier_order():
    from experiments.nll_bound import check_references
    check_references([{"policy": "random_k"}, {"policy": "topk_margin", "reference": "random_k"}])
    with pytest.raises(ValueError, match=r"reference='later'.*not an earlier order's label"):
        check_references([{"policy": "random_k", "reference": "later"},
                          {"policy": "topk_margin", "label": "later"}])
    with pytest.raises(ValueError, match=r"the label 'a' is used twice"):
        check_references([{"policy": "random_k", "label": "a"}, {"policy": "entropy", "label": "a"}])


def test_text_planner_trains_on_bits_per_char_and_gives_the_learned_order_bound(
        tmp_path, python_exe, python_env, tiny_models):
    """train_planner on text validates by the NLL along the planner's own order (text has no
    right answer), and nll_bound takes the exported planner as an order beside random."""
    out = run_module(python_exe, python_env, "experiments.train_planner", "task=text",
              f"task.length={L}", f"denoiser.path={tiny_models / 'mdm'}", "planner=small",
              "val_path=validation", "train.givens_min=null", "train.givens_max=null",
              "train.steps=2", "train.batch_size=2", "train.val_limit=3", "train.eval_every=2",
              "train.log_every=1", "train.threads=1", f"export_to={tmp_path / 'planner'}",
              f"hydra.run.dir={tmp_path / 'train'}")
    assert "step 0: val/bits_per_char=" in out and "step 2: val/bits_per_char=" in out
    orders = ("orders=[{policy:random_k,label:random_order},{policy:learned,label:learned,"
              f"settings:{{path:'{tmp_path / 'planner'}',beta:0.02}}}}]")
    run_module(python_exe, python_env, "experiments.nll_bound", f"denoiser.path={tiny_models / 'mdm'}",
               f"task.length={L}", "data.limit=3", "mc_draws=0", orders,
               f"hydra.run.dir={tmp_path / 'nll'}")
    results = json.loads((tmp_path / "nll" / "results.json").read_text())["orders"]
    assert set(results) == {"random_order", "learned"}
    # the planner starts as the threshold rule at 0.95, which a near-uniform model never
    # passes: one (the most confident) position per step
    assert results["learned"]["nfe_mean"] == L and 5.5 < results["learned"]["bits_per_char"] < 6.6


def test_fewstep_text_planner_trains_with_drawn_validation_subsets(
        tmp_path, python_exe, python_env, tiny_models):
    """planner=text_fewstep train=planner_text_fewstep (issue 14): the random start on an even
    schedule validates with its subsets drawn (train.val_mode=sample), so it takes fewer calls
    than one per position (L), and the exported planner is the policy learned_text_fewstep."""
    out = run_module(python_exe, python_env, "experiments.train_planner", "task=text",
              f"task.length={L}", f"denoiser.path={tiny_models / 'mdm'}", "planner=text_fewstep",
              "train=planner_text_fewstep", "val_path=validation", "train.steps=2", "train.val_beta=4.0",
              "train.batch_size=2", "train.val_limit=3", "train.eval_every=2", "train.log_every=1",
              f"export_to={tmp_path / 'planner'}", f"hydra.run.dir={tmp_path / 'train'}")
    nfe = [float(m) for m in re.findall(r"val/nfe=([0-9.]+)", out)]
    assert len(nfe) == 2 and all(1 <= n <= L - 4 for n in nfe), (nfe, L)
    orders = ("orders=[{policy:learned_text_fewstep,label:learned,"
              f"settings:{{path:'{tmp_path / 'planner'}',beta:4.0}}}}]")
    run_module(python_exe, python_env, "experiments.nll_bound", f"denoiser.path={tiny_models / 'mdm'}",
               f"task.length={L}", "data.limit=3", "mc_draws=0", orders,
               f"hydra.run.dir={tmp_path / 'nll'}")
    r = json.loads((tmp_path / "nll" / "results.json").read_text())["orders"]["learned"]
    assert 1 <= r["nfe_mean"] <= L - 4


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
