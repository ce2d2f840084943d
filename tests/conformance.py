"""Shared helpers of the conformance suite (tests/test_conformance_*.py)."""
from __future__ import annotations

import torch

from planner import sample
from policy_fixtures import NearOneDenoiser, logits_fn, prompt_batch

MASK = 0
SEEDS = (0, 1)
BATCHES = (1, 3)


def setting(batch: int, prompt_length: int, gen_length: int, seed: int):
    """(denoiser, model callable, prompts `[batch, P]`, tokens `[batch, P + G]` with masks)."""
    denoiser = NearOneDenoiser(length=prompt_length + gen_length, seed=seed)
    prompts = prompt_batch(batch, prompt_length, seed=seed)
    tokens = torch.cat([prompts, torch.full((batch, gen_length), MASK, dtype=torch.long)], 1)
    return denoiser, logits_fn(denoiser), prompts, tokens


def run_project(denoiser, policy, tokens):
    return sample(denoiser, policy, tokens, generator=torch.Generator().manual_seed(0))


def per_row(oracle, prompts, **kwargs):
    """Run a batch-1 oracle row by row: (tokens `[B, L]`, orders `[B, L]`, dense orders, calls)."""
    xs, orders, dense, calls = [], [], [], []
    for row in prompts:
        x, rec = oracle(prompt=row[None], **kwargs)
        xs.append(x[0]), orders.append(rec.order[0]), dense.append(rec.dense()[0]), calls.append(rec.calls)
    return torch.stack(xs), torch.stack(orders), torch.stack(dense), calls


def assert_same(project, tokens, order, what):
    assert torch.equal(project.order, order), (
        f"{what}: the project's reveal steps differ from the reference's\n"
        f"project   {project.order.tolist()}\nreference {order.tolist()}")
    assert torch.equal(project.tokens, tokens), f"{what}: the written tokens differ"
