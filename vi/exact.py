"""Exact log-likelihood, ELBO and objective by enumerating every ordered partition of M0.

For a small masked set (|M0| <= 5: 1, 3, 13, 75, 541 ordered partitions) every trajectory
r_1, ..., r_K of the order model is listed, so

    log p_theta(x) = log sum_{r_1..r_K} prod_k [P_theta(r_k | x^(k-1))
                                         * prod_{i in r_k} p_D(x_i | x^(k-1))]
    ELBO(x)        = sum_{r_1..r_K} Q(r_1..r_K) [log p_theta(x, r_1..r_K) - log Q(r_1..r_K)]
    J_a(x)         = sum_{r_1..r_K} Q(r_1..r_K) sum_k [ sum_{i in r_k} log p_D(x_i | x^(k-1))
                       - beta + kl_scale (log P_theta(r_k | .) - log Q_phi(r_k | .))
                       + w H(Q_phi(. | x^(k-1), x)) ]

with Q(r_1..r_K) = prod_k Q_phi(r_k | x^(k-1), x), x^(k-1) = x revealed on r_1 .. r_(k-1).
Everything is a differentiable torch function of the networks' parameters, so autograd gives
the exact gradient the stochastic estimators must match in expectation. The networks run once
per distinct state (the 2^|M0| - 1 proper subsets of M0 revealed), not once per partition.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import torch

from .model import OrderModel

Partition = tuple[tuple[int, ...], ...]


def ordered_partitions(items: Sequence[int]) -> list[Partition]:
    """Every ordered partition of `items` into non-empty blocks (the Fubini numbers:
    1, 3, 13, 75, 541 of them for 1..5 items). The empty sequence has one, the empty one."""
    items = tuple(items)
    if not items:
        return [()]
    out = []
    for size in range(1, len(items) + 1):
        for first in itertools.combinations(items, size):
            rest = tuple(i for i in items if i not in first)
            out.extend((first,) + tail for tail in ordered_partitions(rest))
    return out


@dataclass
class ExactTerms:
    """Per sequence, `[batch]` each.

    log_likelihood: log p_theta(x)
    elbo:           the ELBO (beta = 0, kl_scale = 1, no entropy bonus)
    objective:      J_a, the annealed objective with the given beta, kl_scale, entropy_weight
    expected_steps: E_Q[K]
    kl_to_posterior: KL(Q(order | x) || p_theta(order | x)) = log_likelihood - elbo
    """

    log_likelihood: torch.Tensor
    elbo: torch.Tensor
    objective: torch.Tensor
    expected_steps: torch.Tensor
    kl_to_posterior: torch.Tensor


def _row_terms(order_model: OrderModel, x: torch.Tensor, m0: torch.Tensor, beta: float,
               kl_scale: float, entropy_weight: float) -> dict[str, torch.Tensor]:
    """The terms of one sequence x `[length]` with masked set m0 `[length]` bool."""
    length = x.shape[0]
    positions = torch.nonzero(m0).squeeze(1).tolist()
    if not positions:  # nothing to generate: one empty trajectory, probability 1
        zero = torch.zeros((), device=x.device)
        return {k: zero for k in ("log_likelihood", "elbo", "objective", "expected_steps",
                                  "kl_to_posterior")} | {"total_q": zero + 1}
    # Every state: the revealed part U of M0, as a frozenset; U = M0 is complete (no step).
    states = [frozenset(u) for n in range(len(positions))
              for u in itertools.combinations(positions, n)]
    index = {u: s for s, u in enumerate(states)}
    masked = torch.tensor([[i in positions and i not in u for i in range(length)] for u in states],
                          dtype=torch.bool, device=x.device)                     # [S, length]
    xs = x.expand(len(states), length)
    state = order_model.state(xs, masked, m0.expand_as(masked),
                              torch.full((len(states),), float(beta), device=x.device))
    prior = order_model.prior.distribution(state)
    posterior = order_model.posterior.distribution(state, xs)
    entropy = posterior.entropy()                                                 # [S]

    # Every (state, block) pair a partition can take, evaluated in one batch.
    pairs = sorted({(index[frozenset().union(*part[:k])], part[k])
                    for part in ordered_partitions(positions) for k in range(len(part))})
    pair_index = {p: n for n, p in enumerate(pairs)}
    s_of = torch.tensor([s for s, _ in pairs], device=x.device)
    blocks = torch.zeros(len(pairs), length, dtype=torch.bool, device=x.device)
    for n, (_, block) in enumerate(pairs):
        blocks[n, list(block)] = True

    def log_prob(d) -> torch.Tensor:   # a BernoulliSubset or a SingletonSubset, per pair
        return type(d)(logits=d.logits[s_of], available=d.available[s_of]).log_prob(blocks)

    log_p, log_q = log_prob(prior), log_prob(posterior)                           # [pairs]
    reveal = torch.where(blocks, state.true_log_prob[s_of], torch.zeros(())).sum(-1)
    bonus = entropy[s_of]

    joint, q, objective, steps = [], [], [], []
    for part in ordered_partitions(positions):
        ids = [pair_index[(index[frozenset().union(*part[:k])], part[k])] for k in range(len(part))]
        ids = torch.tensor(ids, device=x.device)
        joint.append((log_p[ids] + reveal[ids]).sum())
        q.append(log_q[ids].sum())
        objective.append((reveal[ids] - beta + kl_scale * (log_p[ids] - log_q[ids])
                          + entropy_weight * bonus[ids]).sum())
        steps.append(float(len(part)))
    joint, log_q_path = torch.stack(joint), torch.stack(q)
    objective, steps = torch.stack(objective), torch.tensor(steps, device=x.device)
    weight = log_q_path.exp()                                                     # Q(partition)

    def expect(values: torch.Tensor) -> torch.Tensor:
        # Q-expectation; a partition Q never takes (a block of several positions under the
        # singleton family) contributes 0, even where its term is -inf or nan: the values are
        # masked before the product, so no 0 * nan reaches the gradient either.
        taken = weight > 0
        return (weight * torch.where(taken, values, torch.zeros_like(values))).sum()

    log_likelihood = torch.logsumexp(joint, 0)
    elbo = expect(joint - log_q_path)
    return {"log_likelihood": log_likelihood, "elbo": elbo, "objective": expect(objective),
            "expected_steps": expect(steps),
            "kl_to_posterior": expect(log_q_path - (joint - log_likelihood)),
            "total_q": weight.sum()}


def exact_terms(order_model: OrderModel, x: torch.Tensor, masked: torch.Tensor, *,
                beta: float = 0.0, kl_scale: float = 1.0, entropy_weight: float = 0.0,
                max_positions: int = 5) -> ExactTerms:
    """The exact terms of every sequence of x `[batch, length]` with masked set `masked`
    `[batch, length]` bool (at most `max_positions` masked per row). Differentiable."""
    counts = masked.sum(-1)
    if int(counts.max()) > max_positions:
        raise ValueError(f"exact enumeration is for at most {max_positions} masked positions per "
                         f"row; got {int(counts.max())}")
    rows = [_row_terms(order_model, x[b], masked[b], beta, kl_scale, entropy_weight)
            for b in range(x.shape[0])]
    for b, row in enumerate(rows):
        total = float(row["total_q"].detach())
        if abs(total - 1.0) > 1e-4:
            raise RuntimeError(f"Q sums to {total} over the ordered partitions of row {b}, "
                               f"expected 1")
    stack = {k: torch.stack([row[k] for row in rows]) for k in rows[0] if k != "total_q"}
    return ExactTerms(**stack)


def exact_log_likelihood(order_model: OrderModel, x: torch.Tensor, masked: torch.Tensor
                         ) -> torch.Tensor:
    """`[batch]` log p_theta(x) by enumeration."""
    return exact_terms(order_model, x, masked).log_likelihood
