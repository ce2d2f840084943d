"""Teacher-forced log-likelihood along an order, and the NLL bound, against closed forms."""
import math

import pytest
import torch

from denoiser import Denoiser, DenoiserOutput
from planner import load_policy
from planner.order_likelihood import order_log_likelihood

V, MASK, N = 6, 5, 7     # five real tokens and the mask


class ContextFree(Denoiser):
    """p(x_i = v) = softmax(table[i])[v] whatever the other tokens are."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.mask_id, self.vocab_size, self.max_length = MASK, V, N
        self.table = torch.nn.Parameter(table)

    def forward(self, tokens, return_hidden=False):
        return DenoiserOutput(self.table[None, :tokens.shape[1]].expand(tokens.shape[0], -1, -1).clone())


class PeekingLeft(Denoiser):
    """Puts probability 0.9 on its left neighbour's token when that neighbour is revealed,
    else uniform over the five real tokens: the order decides the likelihood."""

    def __init__(self):
        super().__init__()
        self.mask_id, self.vocab_size, self.max_length = MASK, V, N
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, tokens, return_hidden=False):
        b, n = tokens.shape
        probs = torch.full((b, n, V), 1 / 5)
        probs[..., MASK] = 0
        left = tokens[:, :-1]
        known = left != MASK
        peek = torch.full((b, n - 1, V), 0.1 / 4)
        peek[..., MASK] = 0
        peek.scatter_(-1, left.clamp(max=V - 2)[..., None], 0.9)
        probs[:, 1:] = torch.where(known[..., None], peek, probs[:, 1:])
        return DenoiserOutput(probs.clamp(min=1e-30).log())


X = torch.tensor([[0, 1, 2, 3, 4, 0, 1], [2, 2, 2, 2, 2, 2, 2]])


def test_uniform_denoiser_gives_log_v_per_character_for_every_order():
    den = ContextFree(torch.zeros(N, V))
    generate = torch.ones_like(X, dtype=torch.bool)
    # softmax over 6 logits with the mask at -inf: 1/5 per real token
    for name in ("random_k", "topk_margin", "random", "threshold"):
        out = order_log_likelihood(den, load_policy(name), X, generate,
                                   generator=torch.Generator().manual_seed(0))
        assert (-out.log_likelihood / out.n_generated).tolist() == pytest.approx([math.log(5)] * 2)


def test_context_free_denoiser_gives_the_sum_of_marginals_in_any_order():
    torch.manual_seed(0)
    table = torch.randn(N, V)
    logp = torch.log_softmax(table[:, :MASK], -1)       # the mask never counts
    generate = torch.tensor([[True] * N, [False, False, True, True, True, False, True]])
    expected = [(logp[torch.arange(N), X[b]] * generate[b]).sum().item() for b in range(2)]
    for name, kw in (("random_k", {}), ("topk_margin", {}), ("topk_margin", {"steps": 2}),
                     ("semi_ar", {})):
        out = order_log_likelihood(ContextFree(table), load_policy(name, **kw), X, generate,
                                   generator=torch.Generator().manual_seed(1))
        assert out.log_likelihood.tolist() == pytest.approx(expected, rel=1e-6)  # float32 logits
        assert out.n_generated.tolist() == [7, 4]


def test_left_to_right_beats_right_to_left_when_the_denoiser_reads_the_left():
    """Left to right, each token after the first is predicted from its revealed neighbour
    (log 0.9, or log 0.025 when it differs); right to left, every token is uniform."""
    generate = torch.ones_like(X, dtype=torch.bool)
    l2r = order_log_likelihood(PeekingLeft(), load_policy("semi_ar", block_length=1), X, generate)
    same = [(X[b, 1:] == X[b, :-1]).sum().item() for b in range(2)]
    expected = [math.log(1 / 5) + s * math.log(0.9) + (N - 1 - s) * math.log(0.1 / 4) for s in same]
    assert l2r.log_likelihood.tolist() == pytest.approx(expected, rel=1e-6)
    assert l2r.nfe.tolist() == [N, N]


def test_random_order_average_matches_exact_enumeration():
    """Over all 3! orders of 3 masked positions the mean log-likelihood is the random-order
    bound; the Monte-Carlo average of random_k converges to it."""
    import itertools
    x = torch.tensor([[1, 1, 3]])
    den = PeekingLeft()

    def loglik(order):
        state, total = torch.full((1, 3), MASK), 0.0
        for i in order:
            logp = torch.log_softmax(den(state).logits[0, i], -1)
            total += logp[x[0, i]].item()
            state[0, i] = x[0, i]
        return total

    exact = sum(loglik(o) for o in itertools.permutations(range(3))) / 6
    g = torch.Generator().manual_seed(0)
    draws = order_log_likelihood(den, load_policy("random_k"), x.repeat(4000, 1),
                                 torch.ones(4000, 3, dtype=torch.bool), generator=g)
    mean = draws.log_likelihood.mean().item()
    se = draws.log_likelihood.std().item() / math.sqrt(4000)
    assert abs(mean - exact) < 4 * se


def test_refuses_masked_or_mismatched_input():
    den = ContextFree(torch.zeros(N, V))
    with pytest.raises(ValueError, match="clean sequences"):
        order_log_likelihood(den, "random_k", X.masked_fill(X == 0, MASK), torch.ones_like(X, dtype=torch.bool))
    with pytest.raises(ValueError, match="generate must be a bool tensor"):
        order_log_likelihood(den, "random_k", X, torch.ones(2, 3, dtype=torch.bool))
