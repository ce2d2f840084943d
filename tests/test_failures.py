"""experiments.failures: the kind of a failed sequence's first wrong commit, by hand."""
import pytest
import torch

from experiments.failures import FirstErrors, summarise_failures, union_and_core
from planner import StepRecord
from planner.policy import Selection
from policy_fixtures import make_ctx, probs_with_confidence

# three positions; confidences .95 (pos 0), .6 (1), .4 (2): token 1 is every argmax
PROBS = probs_with_confidence([0.95, 0.6, 0.4])


def step(chosen, written, rows=(0,), step_index=0):
    ctx = make_ctx(PROBS.expand(len(rows), -1, -1), rows=torch.tensor(rows),
                   step=torch.full((len(rows),), step_index))
    chosen = torch.tensor(chosen)
    return StepRecord(0, ctx, Selection(chosen), torch.where(chosen, torch.tensor(written), 0))


@pytest.mark.parametrize("chosen,reference,kind", [
    ([[True, False, False]], [[2, 1, 1]], "forced"),      # the most confident cell is wrong
    ([[True, True, False]], [[1, 2, 1]], "parallel"),     # a less confident one, with another
    ([[False, True, False]], [[1, 2, 1]], "ranked"),      # a less confident one, alone
])
def test_kinds(chosen, reference, kind):
    trace = FirstErrors(torch.tensor(reference))
    trace(0, step(chosen, [[1, 1, 1]]))
    assert trace.records[0]["kind"] == kind
    assert trace.records[0]["committed"] == sum(chosen[0]) and trace.records[0]["masked"] == 3


def test_only_the_first_wrong_commit_counts_and_rows_are_offset():
    refs = torch.tensor([[1, 1, 1], [2, 1, 1], [1, 1, 2]])
    trace = FirstErrors(refs)
    # a batch starting at data index 1; its row 1 (index 2) is right at step 0
    trace(1, step([[True, False, False], [True, False, False]], [[1, 1, 1]] * 2, rows=(0, 1)))
    assert set(trace.records) == {1} and trace.records[1]["confidence"] == pytest.approx(0.95, abs=1e-4)
    trace(1, step([[False, False, True], [False, True, True]], [[1, 1, 1]] * 2, rows=(0, 1),
                  step_index=1))
    assert trace.records[1]["step"] == 0                 # not overwritten
    assert trace.records[2] == {"step": 1, "kind": "parallel", "confidence": pytest.approx(0.4, abs=1e-4),
                                "committed": 2, "masked": 3}
    summary = summarise_failures(torch.tensor([True, False, False]), trace.records)
    assert summary["failed"] == 2 and summary["forced"] == 1 and summary["parallel"] == 1
    assert summary["confidence_bins"] == {"<0.5": 1, "0.5-0.9": 0, "0.9-0.99": 1, ">=0.99": 0}


def test_a_failure_without_a_wrong_commit_is_refused():
    with pytest.raises(ValueError, match=r"sequences \[0\] failed but never committed"):
        summarise_failures(torch.tensor([False]), {})


def test_union_and_core():
    across = union_and_core([torch.tensor([True, False, False, True]),
                             torch.tensor([True, True, False, False])])
    assert across["any"]["solved"] == 3 and across["every"]["solved"] == 1
    assert across["any"]["accuracy"] == 0.75
