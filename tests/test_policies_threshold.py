"""Fast-dLLM confidence threshold: every masked position with p(v1) > tau, at least the top one."""
from __future__ import annotations

import torch

from planner.policies.threshold import ConfidenceThreshold
from policy_fixtures import make_ctx, probs_with_confidence


def chosen_set(tau, confidences, masked=None):
    ctx = make_ctx(probs_with_confidence(confidences), masked=masked)
    chosen = ConfidenceThreshold(tau=tau).select(ctx, None).chosen
    return set(torch.nonzero(chosen[0]).squeeze(1).tolist())


def test_all_above_tau():
    assert chosen_set(0.9, [0.95, 0.5, 0.91, 0.89, 0.99]) == {0, 2, 4}


def test_none_above_tau_takes_the_most_confident():
    assert chosen_set(0.9, [0.5, 0.8, 0.6]) == {1}


def test_lower_tau_takes_more():
    assert chosen_set(0.55, [0.95, 0.5, 0.91, 0.89, 0.99]) == {0, 2, 3, 4}


def test_a_confident_unmasked_position_is_never_chosen():
    masked = torch.tensor([[True, True, False, True]])
    assert chosen_set(0.9, [0.95, 0.5, 0.99, 0.93], masked) == {0, 3}
