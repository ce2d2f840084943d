"""`GRPO`: the planner's prior trained by reinforcement learning on the frozen denoiser.

As in Jazbec et al. 2025 ("Learning Unmasking Policies for Diffusion Language Models",
arXiv 2512.09106): sampling is a Markov decision process whose environment is the frozen
denoiser; the policy is the prior P_theta(r | x^(k-1)) itself, the `BernoulliSubset` over the
still-masked positions (one draw of every step's set); the written tokens are the
denoiser's own (greedy, as the evaluation decodes). Per training puzzle a group of G rollouts
from the givens; each ends with the reward

    R = r * (1 - K / T) ** alpha,      r = solved (1 if every generated token is the answer's)
                                           or token accuracy (the share that is),

K the rollout's denoiser calls and T the horizon (default: the sequence length, 81 on Sudoku,
so no one-pass rollout reaches it). With alpha = 1 and T = 81 the price of a call near 13
calls is d log R / dK = 1 / (81 - 13) = 0.015 nats, the VI planner's prices (0.003 to 0.3,
validated at 0.02). The group-normalised advantage A_g = (R_g - mean R) / (std R + eps)
(population std over the group; `normalise_std=False`: the mean alone) weights the
trajectory's score, and the objective per puzzle is

    (1/G) sum_g [ A_g sum_k log P_theta(r_k^g | s_k^g)
                  - kl_weight sum_k KL(P_theta(. | s_k^g) || P_ref(. | s_k^g)) ],

the on-policy GRPO step (one update per batch of rollouts: the importance ratio is 1 and the
PPO clip never binds, so the surrogate is REINFORCE with the group baseline). The KL term is
UPO's regulariser towards a reference policy (Hong et al. 2025, arXiv 2510.05725), here the
prior as it was at the first call (the heuristic it starts as, e.g. the factor rule), in
closed form at the visited states. Its `value` is the summed KL-penalised mean reward.
The price `beta` of the training batch enters the network as its input only (a
beta-conditioned network); the reward has its own price, alpha.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch.distributions import kl_divergence

from ..features import OrderState
from ..model import OrderModel
from .base import PriorObjective

REWARDS = ("solved", "accuracy")


@dataclass
class Rollout:
    """G rollouts per sequence, rows grouped (row b * G + g). states / chosen / active: per
    step, the `OrderState`, the drawn set `[rows, length]` and the rows still running
    `[rows]`; tokens: `[rows, length]` the completed sequences; steps: `[rows]` K."""

    states: list[OrderState]
    chosen: list[torch.Tensor]
    active: list[torch.Tensor]
    tokens: torch.Tensor
    steps: torch.Tensor


def roll_out(order: OrderModel, x: torch.Tensor, masked: torch.Tensor, beta: torch.Tensor,
             group: int) -> Rollout:
    """Sample `group` trajectories of the prior per row of x (no gradient): each step calls
    the denoiser on the current sequence, draws r_k from P_theta and writes the denoiser's
    argmax there."""
    xs, m0 = x.repeat_interleave(group, 0), masked.repeat_interleave(group, 0)
    betas = beta.repeat_interleave(group, 0)
    tokens, left = xs.clone(), m0.clone()
    states, chosen, active = [], [], []
    steps = torch.zeros(xs.shape[0], dtype=torch.long, device=x.device)
    with torch.no_grad():
        while bool(left.any()):
            running = left.any(-1)
            # the state's tokens are the rollout's writes off `left`; x there is only read by
            # the posterior's features, which no step here uses
            state = order.state(torch.where(left, xs, tokens), left, m0, betas)
            r = order.prior.distribution(state).sample() & running[:, None]
            tokens = torch.where(r, state.denoised.argmax, tokens)
            states.append(state)
            chosen.append(r)
            active.append(running)
            steps += running.long()
            left = left & ~r
    return Rollout(states, chosen, active, tokens, steps)


def group_advantages(reward: torch.Tensor, group: int, normalise_std: bool = True,
                     eps: float = 1e-6) -> torch.Tensor:
    """reward `[rows]` in groups of `group` consecutive rows -> `[rows]` advantages."""
    r = reward.reshape(-1, group)
    centred = r - r.mean(-1, keepdim=True)
    if normalise_std:
        centred = centred / (r.std(-1, unbiased=False, keepdim=True) + eps)
    return centred.reshape(-1)


class GRPO(PriorObjective):
    """group: rollouts per puzzle (>= 2). alpha (>= 0) and horizon (None: the sequence
    length): the speed factor (1 - K/T)^alpha. reward: "solved" or "accuracy". kl_weight
    (>= 0): UPO's penalty towards the starting prior. normalise_std, eps: the advantage's
    scaling."""

    def __init__(self, group: int = 8, alpha: float = 1.0, horizon: int | None = None,
                 reward: str = "solved", kl_weight: float = 0.0, normalise_std: bool = True,
                 eps: float = 1e-6, max_plate_nesting: int = 1):
        super().__init__(max_plate_nesting=max_plate_nesting)
        if isinstance(group, bool) or not isinstance(group, int) or group < 2:
            raise ValueError(f"group must be an integer >= 2 (advantages are relative to the "
                             f"group), got {group!r}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        for name, value in (("alpha", alpha), ("kl_weight", kl_weight), ("eps", eps)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int)
                                    or horizon < 1):
            raise ValueError(f"horizon must be None or an integer >= 1, got {horizon!r}")
        self.group, self.alpha, self.horizon, self.reward = group, float(alpha), horizon, reward
        self.kl_weight, self.normalise_std, self.eps = float(kl_weight), normalise_std, float(eps)
        self.reference = None   # the prior at the first call, when kl_weight > 0

    def rewards(self, rollout: Rollout, x: torch.Tensor, masked: torch.Tensor) -> dict:
        """`[rows]` each: "reward" R, "solved", "accuracy", "steps" K."""
        xs, m0 = x.repeat_interleave(self.group, 0), masked.repeat_interleave(self.group, 0)
        right = (rollout.tokens == xs) | ~m0
        solved = right.all(-1).float()
        accuracy = ((rollout.tokens == xs) & m0).sum(-1).float() / m0.sum(-1).clamp(min=1).float()
        horizon = self.horizon or x.shape[1]
        if int(rollout.steps.max()) > horizon:
            raise ValueError(f"a rollout took {int(rollout.steps.max())} calls, past the horizon "
                             f"{horizon}: raise grpo's horizon")
        speed = (1.0 - rollout.steps.float() / horizon) ** self.alpha
        base = solved if self.reward == "solved" else accuracy
        return {"reward": base * speed, "solved": solved, "accuracy": accuracy,
                "steps": rollout.steps.float()}

    def _value_and_surrogate(self, order, x, masked, beta):
        if self.kl_weight and self.reference is None:
            self.reference = copy.deepcopy(order.prior).requires_grad_(False)
        rollout = roll_out(order, x, masked, beta, self.group)
        stats = self.rewards(rollout, x, masked)
        advantage = group_advantages(stats["reward"], self.group, self.normalise_std, self.eps)
        score = torch.zeros_like(advantage)
        kl = torch.zeros_like(advantage)
        for state, r, running in zip(rollout.states, rollout.chosen, rollout.active):
            dist = order.prior.distribution(state)
            score = score + torch.where(running, dist.log_prob(r), torch.zeros(()))
            if self.kl_weight:
                with torch.no_grad():
                    ref = self.reference.distribution(state)
                kl = kl + torch.where(running, kl_divergence(dist, ref), torch.zeros(()))
        per_row = advantage * score - self.kl_weight * kl
        surrogate = per_row.sum() / self.group
        value = (stats["reward"] - self.kl_weight * kl.detach()).sum() / self.group
        self.last_stats = {name: float(v.mean()) for name, v in stats.items()}
        self.last_stats["kl_reference"] = float(kl.detach().mean())
        return value.detach(), surrogate
