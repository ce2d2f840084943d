"""GenMD4 (denoiser/genmd4.py, planner/policies/genmd4.py): the learned per-token-value schedule.

- with every power 1 the loss is MD4's (the masked cross-entropy, 1/t weighted);
- the REINFORCE leave-one-out surrogate's gradient, averaged over draws, equals the exact
  gradient of E_q[L(t, z_t)] computed by enumerating every mask of a 3-token sequence;
- the forward process masks value v with probability (1 - eps) t^(w_v);
- the reconstruction term is the reference's formula;
- the sampler's unmasking rates and token law follow the reverse transition, written out here
  independently; with powers 1 it is MD4's 1 - s/t;
- models without a schedule are refused by name; a checkpoint round-trips its powers.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import planner
from denoiser.genmd4 import GenMD4Objective, diffusion_loss, mask_log_probs, reconstruction_loss
from denoiser.transformer import MDMConfig, MDMTransformer
from planner.policies.genmd4 import GenMD4Sampler
from policy_fixtures import make_ctx

VOCAB, MASK = 4, 3        # three real values, the mask last


def model(schedule: str = "learned", length: int = 3, seed: int = 0) -> MDMTransformer:
    torch.manual_seed(seed)
    m = MDMTransformer(MDMConfig(vocab_size=VOCAB, mask_id=MASK, max_length=length, d_model=16,
                                 n_layers=1, n_heads=2, d_ff=32, schedule=schedule))
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.5)
    return m


def test_with_unit_powers_the_loss_is_md4s():
    m = model()
    x0 = torch.tensor([[0, 2, 1], [1, 1, 0]])
    masked = torch.tensor([[True, False, True], [True, True, True]])
    t = torch.tensor([0.4, 0.9])
    logits = m(torch.where(masked, MASK, x0)).logits
    ours = diffusion_loss(logits, x0, masked, torch.ones(VOCAB), t)
    ce = F.cross_entropy(logits.transpose(1, 2), x0, reduction="none")
    assert torch.allclose(ours, (ce * masked).sum(1) / t, atol=1e-5)
    assert torch.allclose(m.masking_power(), torch.ones(VOCAB))


def test_the_forward_process_masks_each_value_at_its_own_rate():
    obj = GenMD4Objective(eps=0.05)
    m = model()
    with torch.no_grad():
        m.schedule_w.copy_(torch.tensor([0.1, 1.0, 3.0, 0.0]))
    power = m.masking_power()
    x0 = torch.tensor([[0, 1, 2]]).repeat(20000, 1)
    t = torch.full((20000,), 0.6)
    masked, *_ = obj.draw(m, x0, power, t, torch.ones_like(x0, dtype=torch.bool),
                          torch.Generator().manual_seed(0))
    expected = (1 - 0.05) * 0.6 ** power[:3]
    assert torch.allclose(masked.float().mean(0), expected, atol=0.015)
    log_m, log_u = mask_log_probs(power[x0[:1]], t[:1], 0.05)
    assert torch.allclose(log_m.exp() + log_u.exp(), torch.ones(1, 3), atol=1e-6)


def exact_expected_loss(m, x0, t, eps):
    """E_q[L(t, z_t)] over all 2^n masks of the single sequence x0 `[1, n]`."""
    power = m.masking_power()
    log_m, log_u = mask_log_probs(power[x0], t, eps)
    total = 0.0
    for bits in itertools.product([False, True], repeat=x0.shape[1]):
        masked = torch.tensor([bits])
        log_q = torch.where(masked, log_m, log_u).sum()
        logits = m(torch.where(masked, MASK, x0)).logits
        total = total + log_q.exp() * diffusion_loss(logits, x0, masked, power, t)[0]
    return total


def test_the_reinforce_loo_gradient_matches_exact_enumeration():
    """The surrogate's mean gradient wrt the powers and the network is the exact gradient of
    the expected loss, by enumeration of the 8 masks (Monte Carlo over 40,000 draw pairs)."""
    obj = GenMD4Objective(eps=1e-4)
    m = model()
    with torch.no_grad():
        m.schedule_w.copy_(torch.tensor([-0.5, 0.8, 1.6, 0.0]))
    x0, t = torch.tensor([[0, 2, 1]]), torch.tensor([0.55])
    exact = exact_expected_loss(m, x0, t, obj.eps)
    g_exact = torch.autograd.grad(exact, [m.schedule_w, m.head.bias])
    n = 40000
    keep = torch.ones(n, 3, dtype=torch.bool)
    surrogate, diffusion, _ = obj.surrogate(m, x0.repeat(n, 1), t.repeat(n), keep,
                                            torch.Generator().manual_seed(1))
    g_est = torch.autograd.grad(surrogate.mean(), [m.schedule_w, m.head.bias], retain_graph=True)
    assert abs(float(diffusion.detach().mean()) - float(exact.detach())) < 0.02 * abs(float(exact)) + 0.01
    for name, a, b in zip(("schedule_w", "head.bias"), g_exact, g_est):
        scale = float(a.abs().max())
        assert torch.allclose(a, b, atol=0.05 * scale + 5e-3), f"{name}: exact {a}, estimated {b}"
    # without the REINFORCE term the schedule's gradient is biased: the term matters here
    plain = torch.autograd.grad(diffusion.mean(), [m.schedule_w])[0]
    assert not torch.allclose(g_exact[0][:3], plain[:3], atol=0.2 * float(g_exact[0].abs().max()))


def test_the_reconstruction_term_is_the_references_formula():
    power = torch.tensor([0.5, 1.0, 2.0, 7.0])          # the mask's entry never counts
    x0, t1, eps = torch.tensor([[0, 2, 1]]), 1e-3, 1e-4
    real = torch.tensor([True, True, True, False])
    ours = reconstruction_loss(x0, power, t1, eps, torch.ones_like(x0, dtype=torch.bool), real)
    wlog = [w * math.log(t1) for w in power[:3].tolist()]
    norm = math.log(sum(math.exp(v) for v in wlog))
    ref = sum(-(1 - eps) * math.exp(wlog[x]) * (wlog[x] - norm) for x in x0[0].tolist())
    assert abs(float(ours[0]) - ref) < 1e-6


def test_the_objective_trains_and_reports_its_bound():
    m = model(length=6)
    obj = GenMD4Objective()
    x0 = torch.randint(0, 3, (16, 6), generator=torch.Generator().manual_seed(0))
    loss, metrics = obj(m, x0, torch.Generator().manual_seed(0))
    loss.backward()
    assert m.schedule_w.grad is not None and m.schedule_w.grad[:3].abs().sum() > 0
    assert set(metrics) >= {"nelbo", "power_min", "power_mean", "power_max", "token_accuracy"}
    assert metrics["nelbo"] > 0 and metrics["power_min"] == pytest.approx(1.0)


def test_a_model_without_a_schedule_is_refused_by_the_objective_and_the_sampler():
    linear = model("linear")
    with pytest.raises(ValueError, match="denoiser.schedule=learned"):
        GenMD4Objective()(linear, torch.zeros(2, 3, dtype=torch.long), torch.Generator())
    with pytest.raises(ValueError, match="MDMTransformer has none"):
        planner.sample(linear.eval(), GenMD4Sampler(steps=4), torch.full((1, 3), MASK))
    with pytest.raises(ValueError, match="schedule must be one of"):
        MDMConfig(vocab_size=VOCAB, mask_id=MASK, max_length=3, schedule="cosine")
    with pytest.raises(ValueError, match="power must be a list of positive finite numbers"):
        GenMD4Sampler(power=[1.0, -2.0])
    with pytest.raises(ValueError, match="power has 2 entries; the denoiser has 4"):
        planner.sample(linear.eval(), GenMD4Sampler(steps=4, power=[1.0, 2.0]),
                       torch.full((1, 3), MASK))


def test_a_learned_schedule_round_trips_through_a_checkpoint(tmp_path):
    m = model()
    with torch.no_grad():
        m.schedule_w.copy_(torch.tensor([0.3, -1.0, 2.0, 0.0]))
    m.save_pretrained(tmp_path / "g")
    back = MDMTransformer.from_pretrained(tmp_path / "g")
    assert back.config.schedule == "learned"
    assert torch.equal(back.masking_power(), m.masking_power())


def reference_step(p, power, t, s):
    """The reverse transition written out per position and value: (unmask probability `[n]`,
    the written value's law `[n, V]`)."""
    n, V = p.shape
    unmask, law = torch.zeros(n, dtype=torch.float64), torch.zeros(n, V, dtype=torch.float64)
    for i in range(n):
        for v in range(V):
            a_t, a_s = 1 - t ** float(power[v]), 1 - s ** float(power[v])
            law[i, v] = p[i, v] * (a_s - a_t) / (1 - a_t)
        unmask[i] = law[i].sum()
        law[i] /= law[i].sum()
    return unmask, law


@pytest.mark.parametrize("power", [[1.0, 1.0, 1.0, 1.0], [0.3, 1.0, 4.0, 1.0]])
def test_the_first_grid_step_follows_the_reverse_transition(power):
    """One `select` on 30,000 copies of a 3-position state: rows whose first grid step reveals
    something stop there (state: grid index 1); their reveals and written values follow the
    reference transition given that something is revealed."""
    probs = torch.tensor([[0.7, 0.2, 0.1, 0.0], [0.1, 0.1, 0.8, 0.0], [0.4, 0.5, 0.1, 0.0]])
    n = 30000
    ctx = replace(make_ctx(probs.expand(n, 3, 4).clone(), mask_id=MASK,
                           generator=torch.Generator().manual_seed(0)), temperature=1.0)
    policy = GenMD4Sampler(steps=5, power=power)
    policy.check_denoiser(SimpleNamespace(vocab_size=VOCAB))
    state = policy.init_state(ctx.masked, None)
    sel = policy.select(ctx, state)
    unmask, law = reference_step(probs.double(), power, 1.0, 0.8)
    if power == [1.0, 1.0, 1.0, 1.0]:
        assert torch.allclose(unmask, torch.full((3,), 0.2, dtype=torch.float64))  # 1 - s/t
    any_p = 1 - (1 - unmask).prod()
    at0 = state == 1
    assert at0.float().mean() == pytest.approx(float(any_p), abs=0.01)
    # given a reveal at the first grid step, position i is revealed with unmask_i / any_p
    assert torch.allclose(sel.chosen[at0].double().mean(0), unmask / any_p, atol=0.015)
    assert (sel.chosen.any(-1)).all() and (state >= 1).all()
    for i in range(3):
        vals = sel.tokens[at0 & sel.chosen[:, i], i]
        freq = torch.bincount(vals, minlength=VOCAB)[:3].double() / len(vals)
        assert torch.allclose(freq, law[i, :3], atol=0.02), (i, freq, law[i])
    assert (sel.tokens[~sel.chosen] == -1).all()


def test_sampling_completes_within_the_grid_and_greedy_is_repeatable():
    m = model(length=6).eval()
    x = torch.full((8, 6), MASK)
    out = planner.sample(m, GenMD4Sampler(steps=6), x, generator=torch.Generator().manual_seed(0))
    assert (out.tokens != MASK).all() and int(out.nfe.max()) <= 6
    again = planner.sample(m, GenMD4Sampler(steps=6), x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.tokens, again.tokens)


def test_train_denoiser_trains_genmd4_and_fine_tunes_a_linear_model(tmp_path, python_exe,
                                                                     python_env, repo_root):
    """objective=genmd4 end to end at a tiny size: val/loss is the GenMD4 bound, the powers
    are logged and move, and init_from a linear-schedule model starts them at 1."""
    import subprocess

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    env = {**python_env, "PYTHONPATH": str(repo_root)}
    tiny = ["task=sudoku", "task.pool_size=20", "task.val_limit=4", "denoiser.d_model=16",
            "denoiser.n_layers=1", "denoiser.n_heads=2", "denoiser.d_ff=32", "train.batch_size=8",
            "train.steps=6", "train.log_every=1", "train.eval_every=3", "train.val_grids=8",
            "train.warmup=1", "train.lr=0.05", "train.bf16=false", "train.threads=1"]

    def train(run, *extra):
        out = subprocess.run([python_exe, "-m", "experiments.train_denoiser", *tiny,
                              f"hydra.run.dir={tmp_path / run}", *extra], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stdout + out.stderr
        return out.stdout

    train("linear")
    log = train("genmd4", "objective=genmd4", "denoiser.schedule=learned",
                f"init_from={tmp_path / 'linear' / 'model'}")
    assert "schedule_w newly initialised" in log
    acc = EventAccumulator(str(tmp_path / "genmd4" / "tb"))
    acc.Reload()
    val = {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}
    assert val["val/loss"] == val["val/nelbo"] and "val/power_max" in val
    power = MDMTransformer.from_pretrained(tmp_path / "genmd4" / "model").masking_power()
    assert not torch.allclose(power[1:], torch.ones(9))        # the mask (id 0) aside
    out = subprocess.run([python_exe, "-m", "experiments.train_denoiser", *tiny, "objective=genmd4",
                          f"hydra.run.dir={tmp_path / 'bad'}"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode != 0 and "denoiser.schedule=learned" in out.stdout + out.stderr


def test_the_shipped_genmd4_sudoku_model_and_its_schedule_plot(tmp_path, python_exe, python_env,
                                                               repo_root):
    """weights/sudoku-mdm-genmd4 carries its learned powers; experiments.genmd4_schedule writes
    its table and plot; a linear-schedule model is refused there by name."""
    from conftest import run_module

    shipped = repo_root / "weights" / "sudoku-mdm-genmd4"
    power = MDMTransformer.from_pretrained(shipped).masking_power()
    assert power.shape == (10,) and (power > 0).all()
    env = {**python_env, "PYTHONPATH": str(repo_root)}
    run_module(python_exe, env, "experiments.genmd4_schedule", f"path={shipped}", "task=sudoku",
               "n_sequences=20", f"hydra.run.dir={tmp_path / 'plot'}")
    rows = (tmp_path / "plot" / "schedule.csv").read_text().splitlines()
    assert rows[0] == "token,label,w,frequency,t_half" and len(rows) == 10   # 9 digits
    assert (tmp_path / "plot" / "schedule.png").stat().st_size > 1000
    import subprocess
    out = subprocess.run([python_exe, "-m", "experiments.genmd4_schedule",
                          f"path={repo_root / 'weights' / 'sudoku-mdm'}", "task=sudoku",
                          f"hydra.run.dir={tmp_path / 'bad'}"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode != 0 and "has no learned masking schedule" in out.stdout + out.stderr
