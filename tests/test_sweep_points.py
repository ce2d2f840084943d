"""experiments.compare.sweep_points: one row label per point, told apart by the fixed settings
only where two points of one policy would otherwise read the same."""
import pytest

from experiments.compare import sweep_points


def test_labels_name_the_swept_knob_and_keep_the_fixed_settings_in_the_overrides():
    points = sweep_points([{"policy": "topk_margin", "knob": "steps", "values": [None, 16]},
                           {"policy": "threshold", "fixed": {"tau": 0.9}}])
    assert points == [("topk_margin", "steps=None", {"steps": None}),
                      ("topk_margin", "steps=16", {"steps": 16}),
                      ("threshold", "default", {"tau": 0.9})]


def test_points_that_would_share_a_label_are_told_apart_by_the_settings_that_differ():
    points = sweep_points([
        {"policy": "remdm", "fixed": {"schedule": "cap", "eta": 0.008}, "knob": "steps", "values": [16, 32]},
        {"policy": "remdm", "fixed": {"schedule": "loop", "eta": 0.02}, "knob": "steps", "values": [16]},
        {"policy": "random_k", "knob": "steps", "values": [16]}])
    assert [(p, label) for p, label, _ in points] == [
        ("remdm", "steps=16 (eta=0.008, schedule=cap)"), ("remdm", "steps=32"),
        ("remdm", "steps=16 (eta=0.02, schedule=loop)"), ("random_k", "steps=16")]
    assert points[2][2] == {"schedule": "loop", "eta": 0.02, "steps": 16}
    # a setting only one of them has is named too (the other reads None: the policy's default)
    points = sweep_points([{"policy": "p2", "knob": "steps", "values": [8]},
                           {"policy": "p2", "fixed": {"eta": 1.0}, "knob": "steps", "values": [8]}])
    assert [label for _, label, _ in points] == ["steps=8 (eta=None)", "steps=8 (eta=1.0)"]


def test_two_points_with_the_same_settings_are_refused():
    with pytest.raises(ValueError, match="'topk_margin' with steps=16 twice"):
        sweep_points([{"policy": "topk_margin", "knob": "steps", "values": [16, 16]}])
