"""The text models issue 18 ships (docs/results/text.md, docs/results/genmd4.md): they load on
the CPU with the recorded architecture and schedule, take the text task's characters, and
sample text with every position filled and the prompt kept."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import planner
from denoiser import load_denoiser
from tasks.text import TextTask

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
MODELS = {"text-mdm-3m": ("rotary", "linear", 3_193_410),
          "text-mdm-small-plain": ("rotary", "linear", 810_306),
          "text-mdm-small-genmd4": ("rotary", "learned", 810_372)}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_shipped_text_model_loads_and_samples(name, data_dir):
    positions, schedule, n_params = MODELS[name]
    model = load_denoiser(WEIGHTS / name)
    assert (model.config.positions, model.config.schedule) == (positions, schedule)
    assert sum(p.numel() for p in model.parameters()) == n_params
    task = TextTask()
    assert model.vocabulary == task.vocabulary and model.mask_id == task.mask_id
    prompts = task.load_eval("validation", limit=2).references.clone()
    prompts[:, 32:] = task.mask_id
    policy = "genmd4" if schedule == "learned" else "random_k"
    out = planner.sample(model, planner.load_policy(policy, steps=16), prompts, temperature=1.0,
                         generator=torch.Generator().manual_seed(0))
    assert not (out.tokens == task.mask_id).any()
    assert torch.equal(out.tokens[:, :32], prompts[:, :32]) and (out.nfe <= 16).all()


def test_the_shipped_bert_with_a_sinusoidal_start_loads_and_samples(data_dir):
    den = load_denoiser(WEIGHTS / "text-hf-mlm-sin")
    task = TextTask()
    assert (den.kind, den.mask_id, den.vocab_size, den.max_length) == ("masked_lm", 65, 66, 128)
    prompts = task.load_eval("validation", limit=2).references.clone()
    prompts[:, 32:] = task.mask_id
    out = planner.sample(den, planner.load_policy("random_k", steps=16), prompts, temperature=1.0,
                         generator=torch.Generator().manual_seed(0))
    assert not (out.tokens == task.mask_id).any() and torch.equal(out.tokens[:, :32], prompts[:, :32])


# the shipped text planners, each recorded for one shipped MDM: the default denoiser=text (the
# 3.2M MDM) has text-planner-3m, denoiser=text_small (the first MDM) has text-planner
PLANNER_OF = {"text-mdm-3m": "text-planner-3m", "text-mdm": "text-planner"}


@pytest.mark.parametrize("mdm", sorted(PLANNER_OF))
def test_each_shipped_text_planner_fits_its_mdm_and_is_refused_on_the_other(mdm):
    from denoiser.base import FrozenDenoiser
    from vi.checkpoint import load_planner

    own = FrozenDenoiser(load_denoiser(WEIGHTS / mdm))
    prior, config = load_planner(WEIGHTS / PLANNER_OF[mdm], own)
    assert config["trained"]["task"] == "text"
    (other,) = set(PLANNER_OF) - {mdm}
    with pytest.raises(ValueError, match="trained for another denoiser"):
        load_planner(WEIGHTS / PLANNER_OF[other], own)


def test_the_text_denoiser_configs_name_the_shipped_models():
    from omegaconf import OmegaConf

    configs = Path(__file__).resolve().parent.parent / "experiments" / "configs" / "denoiser"
    for name, folder in (("text", "text-mdm-3m"), ("text_small", "text-mdm")):
        path = OmegaConf.to_container(OmegaConf.load(configs / f"{name}.yaml"))["path"]
        assert path == "${repo:weights/" + folder + "}", (name, path)
    nll = OmegaConf.to_container(OmegaConf.load(configs.parent / "nll_bound.yaml"))
    assert nll["planner_path"] == "${repo:weights/text-planner-3m}"
