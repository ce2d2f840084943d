"""Broken or mismatched files on disk: each gives an error naming the file and what was
expected, not a traceback from inside safetensors, json, torch or csv."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

import planner
from denoiser import FrozenDenoiser, load_denoiser
from denoiser.hf import HFMaskedDenoiser
from tasks.sudoku import load_sudoku_csv
from vi.checkpoint import load_planner

from conftest import SHIPPED_SUDOKU

REPO_SUDOKU_PLANNER = SHIPPED_SUDOKU.parent / "sudoku-planner"
HF_MLM = SHIPPED_SUDOKU.parent / "text-hf-mlm"


def copy(src, tmp_path, name="model"):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("src", [SHIPPED_SUDOKU, HF_MLM])
def test_truncated_safetensors(tmp_path, src):
    folder = copy(src, tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    with pytest.raises(ValueError, match=f"{weights}.*truncated"):
        load_denoiser(folder)


def test_safetensors_that_is_not_one(tmp_path):
    folder = copy(SHIPPED_SUDOKU, tmp_path)
    (folder / "model.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="is not a safetensors file"):
        load_denoiser(folder)


@pytest.mark.parametrize("src", [SHIPPED_SUDOKU, HF_MLM, REPO_SUDOKU_PLANNER])
def test_config_json_that_is_not_json(tmp_path, src):
    folder = copy(src, tmp_path)
    (folder / "config.json").write_text('{"model_type": "mdm_transformer",\n  "vocab_size": 10,,}')
    with pytest.raises(ValueError, match=rf"{folder / 'config.json'} is not valid JSON: .* line 2"):
        load_planner(folder) if src == REPO_SUDOKU_PLANNER else load_denoiser(folder)


def test_denoiser_config_whose_sizes_disagree_with_the_weights(tmp_path):
    folder = copy(SHIPPED_SUDOKU, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["d_ff"] = config["d_ff"] * 2
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"model.safetensors does not fit the network that .*config.json "
                                         r"describes: \d+ tensor\(s\) of another shape \(blocks.0.ff.0.weight"):
        load_denoiser(folder)


def test_denoiser_config_with_an_unknown_key(tmp_path):
    folder = copy(SHIPPED_SUDOKU, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["d_modle"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json has unknown keys \['d_modle'\]"):
        load_denoiser(folder)


def test_planner_config_whose_sizes_disagree_with_the_weights(tmp_path):
    folder = copy(REPO_SUDOKU_PLANNER, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["prior"]["d_model"] = 16
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="does not fit the network that .*config.json describes"):
        load_planner(folder)


def test_planner_config_without_a_denoiser_record(tmp_path):
    folder = copy(REPO_SUDOKU_PLANNER, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    del config["denoiser"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json has no 'denoiser' record"):
        load_planner(folder)
    den = FrozenDenoiser(load_denoiser(SHIPPED_SUDOKU))
    with pytest.raises(ValueError, match=r"config.json has no 'denoiser' record"):
        planner.sample(den, planner.load_policy("learned", path=str(folder)),
                       torch.zeros(1, 81, dtype=torch.long))


def test_sudoku_denoiser_whose_config_says_another_mask_id(tmp_path):
    """A Sudoku MDM is the grid of tasks.sudoku: blank 0. A config saying another mask id would
    make blanks givens and givens blanks through the Python API: it is refused on loading."""
    folder = copy(SHIPPED_SUDOKU, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["mask_id"] = 5
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"config.json: structure 'sudoku' .* needs max_length 81 "
                                         r"and mask_id 0, got max_length 81 and mask_id 5"):
        load_denoiser(folder)


def test_forty_cells_into_the_sudoku_mdm():
    den = load_denoiser(SHIPPED_SUDOKU)
    with pytest.raises(ValueError, match=r"takes whole 81-cell grids \[batch, 81\], got a sequence of 40"):
        planner.sample(den, "topk_margin", torch.zeros(2, 40, dtype=torch.long))


def test_hf_prompt_with_the_wrong_mask_id_warns():
    den = HFMaskedDenoiser.from_pretrained(HF_MLM)
    prompt = torch.full((1, 16), 3, dtype=torch.long)     # "masks" written as another id
    prompt[0, 0] = 5
    with pytest.warns(UserWarning, match=f"holds the denoiser's mask_id {den.mask_id}: nothing will be generated"):
        result = planner.sample(den, "topk_margin", prompt)
    assert int(result.nfe.max()) == 0


# ---------------------------------------------------------------- CSV encodings

CSV_HEADER = "puzzle,solution,note\n"


def csv_row(shared_data):
    rows = (shared_data / "sudoku" / "rrn_style_valid_18000.csv").read_text().splitlines()
    puzzle, solution = rows[1].split(",")[:2]
    return puzzle, solution


def test_latin1_csv(tmp_path, shared_data):
    puzzle, solution = csv_row(shared_data)
    path = tmp_path / "latin1.csv"
    path.write_bytes((CSV_HEADER + f"{puzzle},{solution},ok\n{puzzle},{solution},café\n").encode("latin-1"))
    with pytest.raises(ValueError, match=rf"{path}:3: byte b'\\xe9' at offset \d+ is not UTF-8"):
        load_sudoku_csv(path)


def test_utf16_csv(tmp_path, shared_data):
    puzzle, solution = csv_row(shared_data)
    path = tmp_path / "utf16.csv"
    path.write_bytes((CSV_HEADER + f"{puzzle},{solution},x\n").encode("utf-16"))
    with pytest.raises(ValueError, match=f"{path}: the file is UTF-16 text .* expected UTF-8"):
        load_sudoku_csv(path)


def test_utf8_bom_csv_loads(tmp_path, shared_data):
    puzzle, solution = csv_row(shared_data)
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (CSV_HEADER + f"{puzzle},{solution},x\n").encode())
    data = load_sudoku_csv(path)
    assert len(data) == 1 and data.extra == {"note": ["x"]}


@pytest.mark.parametrize("limit", ["abc", 2.5, True, 0])
def test_csv_limit_must_be_a_positive_integer(shared_data, limit):
    with pytest.raises(ValueError, match=f"limit must be a positive number of rows or None, got {limit!r}"):
        load_sudoku_csv(shared_data / "sudoku" / "rrn_style_valid_18000.csv", limit=limit)


def test_run_policy_refuses_a_denoiser_for_another_mask_id():
    from types import SimpleNamespace

    from experiments.evaluation import run_policy
    from policy_fixtures import ToyDenoiser
    from tasks.eval_data import EvalData
    task = SimpleNamespace(name="toy", vocab_size=10, mask_id=1, length=12)
    data = EvalData(torch.ones(2, 12, dtype=torch.long), None)
    with pytest.raises(ValueError, match=r"the denoiser has mask_id=0, but task 'toy' needs 1"):
        run_policy(task, FrozenDenoiser(ToyDenoiser()), "topk_margin", data)
