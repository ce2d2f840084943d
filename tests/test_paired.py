"""Paired accuracy differences at matched NFE (experiments/paired.py), by hand."""
import pytest
import torch

from experiments.paired import paired_differences, paired_table


def row(policy, knob, nfe):
    return {"policy": policy, "knob": knob, "nfe_mean": nfe}


ROWS = [row("learned", "threshold=0.5", 13.0), row("factor", "f=0.2", 13.4),
        row("threshold", "tau=0.99", 16.8), row("learned", "threshold=0.7", 16.5)]
CORRECT = [torch.tensor([1, 1, 1, 0, 1, 0], dtype=torch.bool),
           torch.tensor([1, 1, 0, 0, 0, 1], dtype=torch.bool),
           torch.tensor([1, 1, 1, 1, 1, 1], dtype=torch.bool),
           torch.tensor([1, 1, 1, 1, 1, 0], dtype=torch.bool)]


def test_pairs_within_the_tolerance_with_their_differences():
    pairs = paired_differences(ROWS, CORRECT, "learned", 1.0)
    # each learned row meets the other policy's row within 1 call, never its own policy's
    assert [(p["knob"], p["other_knob"]) for p in pairs] == [("threshold=0.5", "f=0.2"),
                                                             ("threshold=0.7", "tau=0.99")]
    a, b = pairs
    # 4/6 against 3/6 solved; per-sequence differences 0, 0, 1, 0, 1, -1
    assert a["difference"] == pytest.approx(1 / 6)
    assert (a["only_policy"], a["only_other"], a["n"]) == (2, 1, 6)
    d = torch.tensor([0, 0, 1, 0, 1, -1], dtype=torch.float64)
    half = 1.959964 * float(d.std()) / 6 ** 0.5
    assert a["ci95"] == pytest.approx([1 / 6 - half, 1 / 6 + half])
    assert b["difference"] == pytest.approx(-1 / 6) and (b["only_policy"], b["only_other"]) == (0, 1)
    md = paired_table(pairs)
    assert "| learned | threshold=0.5 | 13.0 | factor | f=0.2 | 13.4 | +16.7 |" in md


def test_wider_tolerance_pairs_more_and_none_is_said():
    assert len(paired_differences(ROWS, CORRECT, "learned", 4.0)) == 4
    assert paired_table(paired_differences(ROWS, CORRECT, "learned", 0.1)).startswith("No row")


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match=r"paired.reference 'eb' is not among the compared "
                                         r"policies \['factor', 'learned', 'threshold'\]"):
        paired_differences(ROWS, CORRECT, "eb", 1.0)
    with pytest.raises(ValueError, match="4 rows but 3 per-sequence results"):
        paired_differences(ROWS, CORRECT[:3], "learned", 1.0)
    with pytest.raises(ValueError, match="nfe_tolerance must be >= 0, got -1"):
        paired_differences(ROWS, CORRECT, "learned", -1)
