"""Segment reductions: each against a brute-force loop over segments, and the two backends
(plain torch, torch-scatter) against each other, values and gradients."""
import importlib
import math
import sys

import pytest
import torch

from vi import segment
from vi.segment import (log1mexp, segment_ids_from_mask, segment_log1mexp_sum,
                        segment_logsumexp, segment_max, segment_sum)

REDUCTIONS = [segment_sum, segment_max, segment_logsumexp, segment_log1mexp_sum]
NEG_INF = float("-inf")


def ragged(dtype, seed=0, n=40, num_segments=7, empty=(2, 5)):
    """Values in random order over `num_segments` groups, the groups in `empty` left empty."""
    g = torch.Generator().manual_seed(seed)
    used = torch.tensor([k for k in range(num_segments) if k not in empty])
    ids = used[torch.randint(len(used), (n,), generator=g)]
    values = torch.randn(n, generator=g, dtype=torch.float64).to(dtype)
    return values, ids, num_segments


def log_one_minus_p(dtype, seed=1, **kw):
    """log(1 - p) for p in (0.05, 0.95): the inputs segment_log1mexp_sum is meant for."""
    values, ids, s = ragged(dtype, seed, **kw)
    p = 0.05 + 0.9 * torch.sigmoid(values)
    return torch.log1p(-p), ids, s


def inputs_for(fn, dtype, seed=0):
    return log_one_minus_p(dtype, seed) if fn is segment_log1mexp_sum else ragged(dtype, seed)


def brute_force(fn, values, ids, num_segments):
    """The same reduction, one segment at a time, in Python float64 arithmetic."""
    out = []
    for k in range(num_segments):
        xs = [float(v) for v, i in zip(values.tolist(), ids.tolist()) if i == k]
        if fn is segment_sum:
            out.append(math.fsum(xs))
        elif fn is segment_max:
            out.append(max(xs) if xs else NEG_INF)
        elif fn is segment_logsumexp:
            m = max(xs) if xs else 0.0
            out.append(m + math.log(math.fsum(math.exp(x - m) for x in xs)) if xs else NEG_INF)
        else:  # log(1 - prod exp(x))
            out.append(math.log(1.0 - math.exp(math.fsum(xs))) if xs else NEG_INF)
    return torch.tensor(out, dtype=torch.float64)


@pytest.fixture(params=["torch", "scatter"])
def backend(request):
    if request.param == "scatter":
        pytest.importorskip("torch_scatter", reason="torch-scatter (optional extra 'scatter') "
                                                    "is not installed: only the torch path runs")
    return request.param


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("fn", REDUCTIONS, ids=lambda f: f.__name__)
def test_matches_brute_force_loop(fn, dtype, tol, backend):
    for seed in range(3):
        values, ids, s = inputs_for(fn, dtype, seed)
        got = fn(values, ids, s, backend=backend)
        assert got.dtype == dtype and got.shape == (s,)
        want = brute_force(fn, values, ids, s)
        torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol)


@pytest.mark.parametrize("fn,empty_value", [(segment_sum, 0.0), (segment_max, NEG_INF),
                                            (segment_logsumexp, NEG_INF),
                                            (segment_log1mexp_sum, NEG_INF)],
                         ids=lambda x: getattr(x, "__name__", str(x)))
def test_empty_segments_have_their_defined_value(fn, empty_value, backend):
    values, ids, s = inputs_for(fn, torch.float64)
    out = fn(values, ids, s, backend=backend)
    assert out[2].item() == empty_value and out[5].item() == empty_value
    assert torch.isfinite(out[[0, 1, 3, 4, 6]]).all()
    # no values at all: every segment is empty
    none = fn(torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.long), 3,
              backend=backend)
    assert none.tolist() == [empty_value] * 3


@pytest.mark.parametrize("fn", REDUCTIONS, ids=lambda f: f.__name__)
def test_gradients_match_per_segment_autograd(fn, backend):
    """d(sum_k w_k f_k)/d values against torch's own reductions on each segment's slice."""
    values, ids, s = inputs_for(fn, torch.float64, seed=3)
    w = torch.linspace(0.5, 2.0, s, dtype=torch.float64)
    x = values.clone().requires_grad_(True)
    out = fn(x, ids, s, backend=backend)
    torch.where(torch.isfinite(out), out * w, torch.zeros_like(out)).sum().backward()

    y = values.clone().requires_grad_(True)
    total = 0.0
    for k in range(s):
        part = y[ids == k]
        if not part.numel():
            continue
        if fn is segment_sum:
            f = part.sum()
        elif fn is segment_max:
            f = part.max()
        elif fn is segment_logsumexp:
            f = torch.logsumexp(part, 0)
        else:
            f = torch.log(-torch.expm1(part.sum()))
        total = total + w[k] * f
    total.backward()
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("fn", REDUCTIONS, ids=lambda f: f.__name__)
def test_backends_agree_on_values_and_gradients(fn, dtype):
    pytest.importorskip("torch_scatter", reason="torch-scatter (optional extra 'scatter') is not "
                                                "installed: nothing to compare the torch path with")
    values, ids, s = inputs_for(fn, dtype, seed=4)
    results = {}
    for name in ("torch", "scatter"):
        x = values.clone().requires_grad_(True)
        out = fn(x, ids, s, backend=name)
        torch.where(torch.isfinite(out), out, torch.zeros_like(out)).pow(2).sum().backward()
        results[name] = (out.detach(), x.grad)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(results["torch"][0], results["scatter"][0], rtol=tol, atol=tol)
    torch.testing.assert_close(results["torch"][1], results["scatter"][1], rtol=tol, atol=tol)


def test_logsumexp_is_stable_and_handles_minus_infinity(backend):
    values = torch.tensor([1000.0, 1000.0, -1000.0, NEG_INF, NEG_INF, 3.0], dtype=torch.float64,
                          requires_grad=True)
    ids = torch.tensor([0, 0, 1, 1, 2, 3])
    out = segment_logsumexp(values, ids, 5, backend=backend)
    # by hand: log(2 e^1000) = 1000 + ln 2; log(e^-1000 + 0) = -1000; all -inf -> -inf
    assert out.tolist() == pytest.approx([1000 + math.log(2), -1000.0, NEG_INF, 3.0, NEG_INF])
    out[torch.isfinite(out)].sum().backward()
    # softmax within each segment: 1/2, 1/2 | 1, 0 | 0 (all -inf: no gradient, and no nan) | 1
    assert values.grad.tolist() == pytest.approx([0.5, 0.5, 1.0, 0.0, 0.0, 1.0])


def test_log1mexp_is_accurate_at_both_ends():
    x = torch.tensor([-1e-20, -0.5, -0.7, -50.0, 0.0], dtype=torch.float64)
    got = log1mexp(x)
    # by hand: log(1 - e^-1e-20) = log(1e-20) to 1e-20 relative; log(1 - e^-50) = -e^-50
    assert got[0].item() == pytest.approx(math.log(1e-20), rel=1e-15)
    assert got[1].item() == pytest.approx(math.log(1 - math.exp(-0.5)), rel=1e-15)
    assert got[2].item() == pytest.approx(math.log(1 - math.exp(-0.7)), rel=1e-15)
    assert got[3].item() == pytest.approx(-math.exp(-50.0), rel=1e-12)
    assert got[4].item() == NEG_INF
    y = torch.tensor([-1e-3, -3.0], dtype=torch.float64, requires_grad=True)
    log1mexp(y).sum().backward()
    # d/dx log(1 - e^x) = -e^x / (1 - e^x) = -1 / expm1(-x)
    assert y.grad.tolist() == pytest.approx([-1 / math.expm1(1e-3), -1 / math.expm1(3.0)])


def test_log1mexp_sum_is_the_subset_normaliser():
    """log Z for the non-empty Bernoulli subset distribution: Z = 1 - prod (1 - p)."""
    p = torch.tensor([0.5, 0.25, 0.9, 0.1, 0.2], dtype=torch.float64)
    ids = torch.tensor([0, 0, 1, 2, 2])
    got = segment_log1mexp_sum(torch.log1p(-p), ids, 4)
    want = [math.log(1 - 0.5 * 0.75), math.log(0.9), math.log(1 - 0.9 * 0.8), NEG_INF]
    assert got.tolist() == pytest.approx(want)


def test_segment_ids_from_mask_pairs_with_boolean_indexing():
    x = torch.arange(12.0, dtype=torch.float64).view(3, 4)
    mask = torch.tensor([[True, False, True, False], [False] * 4, [True, True, True, True]])
    ids = segment_ids_from_mask(mask)
    assert ids.tolist() == [0, 0, 2, 2, 2, 2]
    assert segment_sum(x[mask], ids, 3).tolist() == [0 + 2, 0.0, 8 + 9 + 10 + 11]
    with pytest.raises(ValueError, match="bool tensor"):
        segment_ids_from_mask(mask.long())


def test_bad_inputs_are_refused():
    values, ids, s = ragged(torch.float64)
    with pytest.raises(ValueError, match="segment id 7 is outside \\[0, 7\\)"):
        segment_sum(values, torch.where(ids == ids[0], 7, ids), s)
    with pytest.raises(ValueError, match="must match"):
        segment_sum(values, ids[:-1], s)
    with pytest.raises(TypeError, match="int64"):
        segment_sum(values, ids.int(), s)
    with pytest.raises(TypeError, match="floating-point"):
        segment_sum(ids, ids, s)
    with pytest.raises(ValueError, match="num_segments"):
        segment_sum(values, ids, -1)
    with pytest.raises(ValueError, match="backend is 'cuda'"):
        segment_sum(values, ids, s, backend="cuda")


def test_scatter_backend_without_torch_scatter_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_scatter", None)  # makes `import torch_scatter` fail
    values, ids, s = ragged(torch.float64)
    with pytest.raises(ImportError, match="torch-scatter"):
        segment_sum(values, ids, s, backend="scatter")


def test_default_backend_comes_from_the_environment(monkeypatch):
    values, ids, s = ragged(torch.float64)
    try:
        monkeypatch.setenv("MDM_SEGMENT_BACKEND", "bogus")
        importlib.reload(segment)
        assert segment.DEFAULT_BACKEND == "bogus"
        with pytest.raises(ValueError, match="MDM_SEGMENT_BACKEND.*'bogus'"):
            segment.segment_sum(values, ids, s)
        monkeypatch.delenv("MDM_SEGMENT_BACKEND")
        importlib.reload(segment)
        assert segment.DEFAULT_BACKEND == "torch"
    finally:
        monkeypatch.undo()
        importlib.reload(segment)


def test_subset_distribution_is_the_same_on_both_backends(monkeypatch):
    """BernoulliSubset's log normaliser is a segment reduction over each row's masked
    positions: the plain-torch and torch-scatter paths give the same numbers and gradients."""
    pytest.importorskip("torch_scatter")
    import vi.segment as segment
    from vi.subset import BernoulliSubset

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 9, generator=g, dtype=torch.float64, requires_grad=True)
    available = torch.rand(5, 9, generator=g) < 0.5
    available[0] = False                       # a finished row
    value = BernoulliSubset(logits=logits.detach(), available=available).sample(generator=g)
    out = {}
    for backend in ("torch", "scatter"):
        monkeypatch.setattr(segment, "DEFAULT_BACKEND", backend)
        d = BernoulliSubset(logits=logits, available=available)
        lp = d.log_prob(value)
        (grad,) = torch.autograd.grad(d.log_normalizer.sum() + lp[lp.isfinite()].sum(), logits)
        out[backend] = (d.log_normalizer.detach(), lp.detach(), grad)
    for a, b in zip(out["torch"], out["scatter"]):
        assert torch.allclose(a, b, atol=1e-12, equal_nan=True)
