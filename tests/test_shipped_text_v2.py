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


def test_the_shipped_alibi_bert_attends_by_distance_and_predicts_better_than_the_first(data_dir):
    """weights/text-hf-mlm-alibi: its slopes ride in its config, and on validation windows with
    a quarter of the characters masked it predicts them better than the sinusoidal BERT."""
    from denoiser.position_bias import alibi_slopes

    alibi, sin = load_denoiser(WEIGHTS / "text-hf-mlm-alibi"), load_denoiser(WEIGHTS / "text-hf-mlm-sin")
    assert alibi.alibi_slopes == alibi_slopes(8) and sin.alibi_slopes is None
    task = TextTask()
    x = task.load_eval("validation", limit=8).references
    masked = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) < 0.25
    tokens = x.masked_fill(masked, task.mask_id)

    def nll(den):
        with torch.no_grad():
            logp = torch.log_softmax(den(tokens).logits.float(), -1)
        return -logp.gather(-1, x[..., None])[..., 0][masked].mean().item()
    assert nll(alibi) < nll(sin) - 0.3


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
    for name, folder in (("text", "text-mdm-3m"), ("text_small", "text-mdm"), ("text_hf", "text-hf-mlm-alibi")):
        path = OmegaConf.to_container(OmegaConf.load(configs / f"{name}.yaml"))["path"]
        assert path == "${repo:weights/" + folder + "}", (name, path)
    nll = OmegaConf.to_container(OmegaConf.load(configs.parent / "nll_bound.yaml"))
    assert nll["planner_path"] == "${repo:weights/text-planner-3m}"


def test_the_shipped_fewstep_text_planner_fits_the_3m_mdm_and_spends_fewer_calls_at_higher_beta():
    """`learned_text_fewstep` (issue 14): recorded for the 3.2M MDM, refused on the first one,
    and its drawn subsets spend fewer calls as the price rises, every position filled."""
    from denoiser.base import FrozenDenoiser
    from vi.checkpoint import load_planner

    mdm = FrozenDenoiser(load_denoiser(WEIGHTS / "text-mdm-3m"))
    prior, config = load_planner(WEIGHTS / "text-planner-fewstep", mdm)
    assert config["trained"]["task"] == "text" and config["prior"]["schedule_feature"] is True
    with pytest.raises(ValueError, match="trained for another denoiser"):
        load_planner(WEIGHTS / "text-planner-fewstep", FrozenDenoiser(load_denoiser(WEIGHTS / "text-mdm")))
    task = TextTask()
    prompts = torch.full((4, task.length), task.mask_id, dtype=torch.long)
    nfe = []
    for beta in (0.3, 3.0):
        out = planner.sample(mdm, planner.load_policy("learned_text_fewstep", beta=beta), prompts,
                             temperature=1.0, generator=torch.Generator().manual_seed(0))
        assert not (out.tokens == task.mask_id).any()
        nfe.append(float(out.nfe.float().mean()))
    assert nfe[0] > nfe[1], nfe


def test_the_fewstep_bound_pairs_each_rule_with_a_learned_order_of_its_calls():
    from omegaconf import OmegaConf
    from experiments.nll_bound import check_references

    configs = Path(__file__).resolve().parent.parent / "experiments" / "configs"
    orders = OmegaConf.to_container(OmegaConf.load(configs / "nll_bound_fewstep.yaml"))["orders"]
    check_references(orders)
    learned = {o["label"] for o in orders if o["policy"] == "learned_text_fewstep"}
    assert all(o.get("reference") in learned for o in orders if o["label"] not in learned)
