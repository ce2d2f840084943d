"""Conformance: the tau-hyperschedules against hdlm's metaschedules (tests/oracles/hdlm.py:
ServiceNow/hdlm @ 3bd7829, hdlm/metaschedule.py), derandomised as the project reads them (a
position at level l revealed with probability 1 - l/tau, its expected count revealed left to
right). Block annealing (width w, tau levels) is the project's `hyperschedule_block` with
T = B tau steps (B = ceil(n / w) blocks); simple annealing with tau = w is
`hyperschedule_window` with T = n - 1 + w; hybrid annealing is `hyperschedule_hybrid`. Whole
trajectories after a prompt whose length is and is not a multiple of w, batch 1 and 3. Documented differences (docs/conformance.md): the
project's window is linear, hdlm's simple annealing with tau != w rounds its levels; the
project counts only masked positions (givens inside the region are skipped), hdlm counts
sequence positions after the condition (the same for a prompt followed by masks).
"""
from __future__ import annotations

import pytest
import torch

from conformance import BATCHES, SEEDS, run_project, setting
from oracles import hdlm
from planner.policies.hyperschedule_block import BlockAnnealing
from planner.policies.hyperschedule_hybrid import HybridAnnealing
from planner.policies.hyperschedule_window import SlidingWindow


def dense(steps: list[int]) -> list[int]:
    """Reveal steps without the steps at which nothing is due (the project skips them)."""
    index = {s: k for k, s in enumerate(sorted(set(steps)))}
    return [index[s] for s in steps]


@pytest.mark.parametrize("w", [1, 2, 3, 4, 9])
@pytest.mark.parametrize("tau", [1, 2, 3, 4])
@pytest.mark.parametrize("n,prompt_length", [(16, 4), (13, 5), (9, 3)])
def test_block_annealing(w, tau, n, prompt_length):
    expected = dense(hdlm.oracle_reveal_blocks(w, tau, n))
    blocks = -(-n // w)
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, prompt_length, n, seed)
            result = run_project(denoiser, BlockAnnealing(w=w, steps=blocks * tau), tokens)
            for row in range(batch):
                assert result.order[row][prompt_length:].tolist() == expected, (w, tau, n)
                assert (result.order[row][:prompt_length] == -1).all()


@pytest.mark.parametrize("w", [1, 2, 3, 4, 9])
@pytest.mark.parametrize("n,prompt_length", [(16, 4), (13, 5), (9, 3)])
def test_sliding_window_is_simple_annealing(w, n, prompt_length):
    expected = dense(hdlm.oracle_reveal_window(w, n))
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, prompt_length, n, seed)
            result = run_project(denoiser, SlidingWindow(w=w, steps=n - 1 + w), tokens)
            for row in range(batch):
                assert result.order[row][prompt_length:].tolist() == expected, (w, n)


@pytest.mark.parametrize("w", [1, 2, 3, 4, 9])
@pytest.mark.parametrize("tau", [1, 2, 3, 5])
@pytest.mark.parametrize("n,prompt_length", [(16, 4), (13, 5), (9, 3)])
def test_hybrid_annealing(w, tau, n, prompt_length):
    expected = dense(hdlm.oracle_reveal_hybrid(w, tau, n))
    for seed in SEEDS:
        for batch in BATCHES:
            denoiser, model, prompts, tokens = setting(batch, prompt_length, n, seed)
            result = run_project(denoiser, HybridAnnealing(w=w, tau=tau), tokens)
            for row in range(batch):
                assert result.order[row][prompt_length:].tolist() == expected, (w, tau, n)


def test_hdlm_levels_by_hand():
    """Block annealing w = 2, tau = 2 over 4 positions: step 1 block 0 at level 1, step 2 block
    0 clean, step 3 block 1 at level 1, step 4 all clean."""
    ms = hdlm.block_annealing(2, 2)
    assert [ms.levels(t, 4) for t in (1, 2, 3, 4)] == [[1, 1, 2, 2], [0, 0, 2, 2], [0, 0, 1, 1], [0, 0, 0, 0]]
    assert hdlm.hybrid_annealing_steps(2, 2, 3) == [[1, 1, 2], [0, 1, 2], [0, 0, 2],
                                                    [0, 0, 1], [0, 0, 0], [0, 0, 0]]
    window = hdlm.simple_annealing(3, 3)               # main step (0, 1, 2): a diagonal
    assert [window.levels(t, 4) for t in (1, 2, 3, 4)] == [[2, 3, 3, 3], [1, 2, 3, 3],
                                                           [0, 1, 2, 3], [0, 0, 1, 2]]
