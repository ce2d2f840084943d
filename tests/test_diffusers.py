"""diffusers both ways (the `diffusers` extra, installed by `make test`): a project policy as a
diffusers scheduler in diffusers' own `LLaDA2Pipeline` loop, with its config saved and loaded;
diffusers' `BlockRefinementScheduler` and `EntropyBoundScheduler` as project policies, equal to
the project's threshold, token-editing and EB rules where the rules coincide, and as rows of
`compare`. Tiny models built here; nothing is downloaded."""
from __future__ import annotations

import csv

import pytest
import torch

import planner
from conftest import run_module
from policy_fixtures import ToyDenoiser, make_policy, prompt_batch, toy_planner_path

# no skip: `make test` installs the extra, and without it this fails naming it
from planner.diffusers_import import import_diffusers  # noqa: E402

import_diffusers()
from diffusers import BlockRefinementScheduler, LLaDA2Pipeline  # noqa: E402

from planner.diffusers_scheduler import PolicyScheduler  # noqa: E402

VOCAB, MASK = 12, 11


class NoMaskLogits(torch.nn.Module):
    """A tiny BERT whose logits never favour the mask token (as a trained MDM's), with the
    forward diffusers' pipeline calls: input_ids, attention_mask, position_ids -> .logits."""

    def __init__(self):
        super().__init__()
        from transformers import BertConfig, BertForMaskedLM
        torch.manual_seed(0)
        self.bert = BertForMaskedLM(BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1,
                                               num_attention_heads=2, intermediate_size=64,
                                               max_position_embeddings=64)).eval()
        with torch.no_grad():
            for p in self.bert.parameters():
                if p.dim() > 1:
                    p.normal_(0, 0.5)

    @property
    def device(self):                       # what the pipeline reads to place its tensors
        return self.bert.device

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids)
        out.logits[..., MASK] = -1e4
        return out


MODEL = NoMaskLogits()


def pipeline_run(scheduler, prompt, **kw):
    pipe = LLaDA2Pipeline(model=MODEL, scheduler=scheduler, tokenizer=None)
    pipe.set_progress_bar_config(disable=True)
    args = dict(input_ids=prompt, gen_length=16, block_length=8, num_inference_steps=4,
                mask_token_id=MASK, output_type="seq", temperature=0.0, threshold=0.6,
                editing_threshold=None, use_chat_template=False)
    return pipe(**{**args, **kw}).sequences


def prompts(length=8):
    g = torch.Generator().manual_seed(3)
    return torch.randint(0, MASK, (3, length), generator=g)


@pytest.mark.parametrize("steps,threshold", [(4, 0.6), (8, 0.9), (2, 0.3)])
def test_a_project_policy_runs_as_the_scheduler_of_diffusers_pipeline(steps, threshold):
    """token_edit transcribes BlockRefinementScheduler: as the pipeline's scheduler it must give
    the pipeline's own sequences (blocks fully masked: prompt a multiple of the block)."""
    own = pipeline_run(BlockRefinementScheduler(block_length=8, threshold=threshold), prompts(),
                       num_inference_steps=steps, threshold=threshold)
    ours = pipeline_run(PolicyScheduler("token_edit", {"steps": steps, "threshold": threshold,
                                                       "editing_threshold": None}, block_length=8),
                        prompts(), num_inference_steps=steps, threshold=threshold)
    assert (own != MASK).all() and torch.equal(ours, own)


def test_the_learned_planner_as_a_scheduler_completes_every_block():
    import vi  # noqa: F401  (registers "learned")
    from denoiser.hf import HFMaskedDenoiser
    path = toy_planner_path(HFMaskedDenoiser(MODEL.bert, kind="masked_lm", mask_id=MASK))
    scheduler = PolicyScheduler("learned", {"path": path, "threshold": 0.6}, block_length=8)
    seen = []

    def record(pipe, step, timestep, kwargs):
        seen.append(kwargs["transfer_index"].sum(-1))
        return {}
    out = pipeline_run(scheduler, prompts(), num_inference_steps=4, callback_on_step_end=record,
                       callback_on_step_end_tensor_inputs=["transfer_index"])
    assert out.shape == (3, 16) and (out != MASK).all()
    assert all(bool((s >= 1).all()) for s in seen) and len(seen) <= 8


def test_the_scheduler_config_saves_and_loads(tmp_path):
    import vi  # noqa: F401
    from denoiser.hf import HFMaskedDenoiser
    path = toy_planner_path(HFMaskedDenoiser(MODEL.bert, kind="masked_lm", mask_id=MASK))
    for name, knobs in (("threshold", {"tau": 0.8, "block_length": 4}),
                        ("learned", {"path": path, "threshold": 0.3})):
        scheduler = PolicyScheduler(name, knobs, block_length=8, num_inference_steps=6)
        scheduler.save_config(tmp_path / name)
        again = PolicyScheduler.from_pretrained(tmp_path / name)
        public = lambda c: {k: v for k, v in dict(c).items() if not k.startswith("_")}  # noqa: E731
        assert public(again.config) == public(scheduler.config)
        assert again.config["policy"] == name and dict(again.config["policy_knobs"]) == knobs
        assert repr(again.policy) == repr(scheduler.policy) == repr(planner.load_policy(name, **knobs))
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        PolicyScheduler("nope")
    with pytest.raises(ValueError, match="pass mask_token_id"):
        PolicyScheduler("threshold").step(torch.zeros(1, 4, VOCAB), 0, torch.zeros(1, 4, dtype=torch.long))


def trajectories(policy, seed, **kw):
    denoiser = ToyDenoiser(vocab_size=10, length=20, seed=seed, sharpness=kw.pop("sharpness", 4.0))
    tokens = torch.cat([prompt_batch(3, 4, seed=seed), torch.zeros(3, 16, dtype=torch.long)], 1)
    return planner.sample(denoiser, policy, tokens, generator=torch.Generator().manual_seed(seed), **kw)


def same(a, b):
    return torch.equal(a.tokens, b.tokens) and torch.equal(a.order, b.order) and torch.equal(a.nfe, b.nfe)


@pytest.mark.parametrize("block_length", [4, 8, 16])
@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9])
def test_block_refinement_at_one_commit_per_step_is_the_threshold_rule(block_length, threshold):
    """num_inference_steps = block_length: the scheduler's quota is 1, so it commits every
    position above the threshold, else the single most confident: Fast-dLLM's threshold rule
    with c > tau (inclusive=False) in the same blocks."""
    for seed in (0, 1):
        ours = planner.load_policy("threshold", tau=threshold, inclusive=False, block_length=block_length)
        theirs = planner.load_policy("diffusers_block_refinement", block_length=block_length,
                                     num_inference_steps=block_length, threshold=threshold)
        assert same(trajectories(ours, seed), trajectories(theirs, seed)), (block_length, threshold, seed)


@pytest.mark.parametrize("steps", [2, 5, 16])
@pytest.mark.parametrize("threshold", [0.5, 0.95])
def test_block_refinement_in_one_block_is_token_editing_without_edits(steps, threshold):
    for seed in (0, 1):
        ours = planner.load_policy("token_edit", steps=steps, threshold=threshold, editing_threshold=None)
        theirs = planner.load_policy("diffusers_block_refinement", block_length=16,
                                     num_inference_steps=steps, threshold=threshold)
        a, b = trajectories(ours, seed), trajectories(theirs, seed)
        assert torch.equal(a.tokens, b.tokens) and torch.equal(a.order, b.order), (steps, threshold, seed)


@pytest.mark.parametrize("bound", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("t_max,t_min,n", [(0.8, 0.4, 32), (1.0, 0.5, 4), (2.0, 1.0, 8)])
@pytest.mark.parametrize("block_length", [None, 8])
def test_entropy_bound_scheduler_is_the_eb_rule_with_annealing(bound, t_max, t_min, n, block_length):
    for seed in (0, 1):
        ours = planner.load_policy("eb", gamma=bound, t_max=t_max, t_min=t_min, anneal_steps=n,
                                   block_length=block_length)
        theirs = planner.load_policy("diffusers_entropy_bound", entropy_bound=bound, t_max=t_max,
                                     t_min=t_min, num_inference_steps=n, block_length=block_length,
                                     tokens="loop")
        assert same(trajectories(ours, seed, sharpness=1.5), trajectories(theirs, seed, sharpness=1.5))


def test_the_scheduler_samples_its_own_tokens():
    policy = planner.load_policy("diffusers_entropy_bound")
    a, b = trajectories(policy, 0), trajectories(planner.load_policy("diffusers_entropy_bound"), 0)
    assert torch.equal(a.tokens, b.tokens)     # seeded by the call's generator
    greedy = trajectories(planner.load_policy("diffusers_entropy_bound", tokens="loop"), 0)
    assert not torch.equal(a.tokens, greedy.tokens)


def test_compare_runs_diffusers_schedulers_as_rows(tmp_path, python_exe, python_env, tiny_denoiser):
    sweep = ("sweep=[{policy:threshold,knob:tau,values:[0.9]},"
             "{policy:diffusers_block_refinement,fixed:{block_length:27},knob:num_inference_steps,values:[27,9]},"
             "{policy:diffusers_entropy_bound,fixed:{tokens:loop},knob:entropy_bound,values:[0.1]}]")
    run_module(python_exe, python_env, "experiments.compare", f"denoiser.path={tiny_denoiser}",
               "data.limit=4", sweep, "paired.reference=null", f"hydra.run.dir={tmp_path}")
    rows = list(csv.DictReader((tmp_path / "comparison.csv").open()))
    assert [(r["policy"], r["knob"]) for r in rows] == [
        ("threshold", "tau=0.9"), ("diffusers_block_refinement", "num_inference_steps=27"),
        ("diffusers_block_refinement", "num_inference_steps=9"),
        ("diffusers_entropy_bound", "entropy_bound=0.1")]
    assert float(rows[2]["nfe_max"]) <= 27      # 9 steps in each of 3 blocks of 27 cells
