"""The self-correction objective (denoiser/verify_objective.py) and fine-tuning from a folder."""
import subprocess
import sys

import pytest
import torch

from denoiser import DenoiserOutput, MDMConfig, MDMTransformer, masked_diffusion_loss
from denoiser.verify_objective import SelfCorrectionObjective


class Scripted(torch.nn.Module):
    """Logits that prefer token 1 everywhere with a per-position confidence ramp, plus one
    trainable bias, so the objective's fill set is known: the most confident masked cells."""
    mask_id = 0

    def __init__(self, length=12):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(()))
        self.ramp = torch.linspace(0.0, 6.0, length)
        self.inputs = []

    def forward(self, tokens, return_hidden=False):
        self.inputs.append(tokens.clone())
        logits = torch.zeros(*tokens.shape, 4) + self.bias
        logits[..., 1] = logits[..., 1] + self.ramp
        logits[..., 0] = float("-inf")
        return DenoiserOutput(logits)


def test_without_corruption_it_is_the_masked_objective():
    model = MDMTransformer(MDMConfig(vocab_size=10, max_length=81, mask_id=0, d_model=16,
                                     n_layers=1, n_heads=2, d_ff=32, structure="sudoku"))
    x0 = torch.randint(1, 10, (8, 81), generator=torch.Generator().manual_seed(0))
    a, _ = SelfCorrectionObjective(corrupt_share=0.0)(model, x0, torch.Generator().manual_seed(3))
    b, _ = masked_diffusion_loss(model, x0, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_fills_the_most_confident_masked_positions_with_the_models_draws():
    model = Scripted()
    x0 = torch.full((64, 12), 2)
    objective = SelfCorrectionObjective(corrupt_share=1.0, fill_max=1.0, corrupt_max_t=1.0,
                                        temperature=1e-3)
    loss, metrics = objective(model, x0, torch.Generator().manual_seed(0))
    first, second = model.inputs                  # the no-grad draw, then the trained pass
    masked = first == 0
    filled = masked & (second != 0)
    assert filled.any() and (second[filled] == 1).all()     # greedy draws of token 1
    assert (second[~masked] == 2).all()                     # unmasked positions untouched
    for row in range(64):                                   # filled: a top segment of the ramp
        cells = torch.nonzero(masked[row]).squeeze(1)
        took = filled[row][cells]
        if took.any():
            assert took[-int(took.sum()):].all() and not took[:-int(took.sum())].any()
    assert metrics["wrong_fill_share"] == 1.0               # x0 is 2, the draws are 1
    loss.backward()
    assert model.bias.grad is not None and torch.isfinite(model.bias.grad)


def test_rows_masked_past_corrupt_max_t_stay_clean():
    model = Scripted()
    x0 = torch.full((256, 12), 2)
    objective = SelfCorrectionObjective(corrupt_share=1.0, fill_max=1.0, corrupt_max_t=0.3)
    objective(model, x0, torch.Generator().manual_seed(1))
    first, second = model.inputs
    filled_rows = ((first == 0) & (second != 0)).any(-1)
    masked_share = (first == 0).float().mean(-1)
    assert filled_rows.any()
    assert masked_share[filled_rows].max() < 0.6            # only rows with small t were filled


@pytest.mark.parametrize("knob,value", [("corrupt_share", 1.5), ("fill_max", -0.1),
                                        ("temperature", 0.0), ("filled_weight", -1.0),
                                        ("corrupt_max_t", 2.0)])
def test_bad_knobs_name_the_value(knob, value):
    with pytest.raises(ValueError, match=f"{knob} must be"):
        SelfCorrectionObjective(**{knob: value})


def test_fine_tune_from_a_folder_with_the_self_correction_objective(tmp_path, python_env):
    start = tmp_path / "start"
    MDMTransformer(MDMConfig(vocab_size=10, max_length=81, mask_id=0, d_model=16, n_layers=1,
                             n_heads=2, d_ff=32, structure="sudoku")).save_pretrained(start)
    small = ["denoiser.d_model=16", "denoiser.n_layers=1", "denoiser.n_heads=2", "denoiser.d_ff=32"]
    fit = ["train.steps=2", "train.batch_size=4", "train.warmup=1", "train.log_every=1",
           "train.eval_every=2", "train.ckpt_every=1", "train.val_grids=4", "train.threads=1",
           "task.val_limit=2", "task.pool_size=20"]
    proc = subprocess.run([sys.executable, "-m", "experiments.train_denoiser", "task=sudoku",
                           "objective=self_correct", f"init_from={start}", *small, *fit,
                           f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True,
                          env=python_env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"starting from the weights of {start}" in proc.stdout
    assert "filled_loss" in proc.stdout and "val/wrong_fill_fixed" in proc.stdout
    wrong = subprocess.run([sys.executable, "-m", "experiments.train_denoiser", "task=sudoku",
                            f"init_from={start}", *fit, f"hydra.run.dir={tmp_path / 'run2'}"],
                           capture_output=True, text=True, env=python_env, timeout=600)
    assert wrong.returncode != 0 and f"init_from={str(start)!r}" in wrong.stderr
