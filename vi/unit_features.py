"""What a masked cell's group-mates say about its predicted token (issue 14, few steps).

At a state x^(k-1) the denoiser gives each masked position i a marginal p_i. A confidence
rule commits the argmax d_i = argmax p_i wherever p_i(d_i) (or the margin) is high, cell by
cell. But the cells of a Sudoku unit are not independent: digit d sits in exactly one cell of
each unit, so when another masked cell of i's row also puts much of its mass on d_i, the two
cannot both be right. These features measure that competition from the marginals alone
(nothing of the solution, nothing of the rules beyond which positions share a group):

own (OWN_FEATURES): the log-odds of p_i(v1), of the margin p_i(v1) - p_i(v2) and of p_i(v2),
    the entropy, and the share of the row's initially masked positions still masked;
per group g of i (GROUP_FEATURES): over the other still-masked positions j of the group,
    mass:     sum_j p_j(d_i), the mass the group-mates give i's token;
    rival:    max_j p_j(d_i), the strongest group-mate claim on it;
    masked:   the share of the group still masked;
    share:    p_i(d_i) / (p_i(d_i) + mass), i's share of its token's mass in the group.

Groups: for "sudoku" the cell's row, column and box; for "sequence" a window of WINDOW
neighbours each side (`vi.mixers`). Every feature is computed for every position; the
correctness planner (`vi.correctness`) reads them at the masked ones.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from .mixers import WINDOW

OWN_FEATURES = ("log_odds_top", "log_odds_margin", "entropy", "log_odds_second", "fraction_masked")
GROUP_FEATURES = ("mass", "rival", "masked", "share")
STRUCTURES = ("sudoku", "sequence")
# probabilities are clipped here before a log-odds (a probability of exactly 0 or 1)
EPS = 1e-6


@lru_cache(maxsize=16)
def _membership(structure: str, length: int) -> torch.Tensor:
    if structure == "sudoku":
        from denoiser.grid import BOX, COL, LENGTH, ROW
        if length != LENGTH:
            raise ValueError(f"structure 'sudoku' has {LENGTH} positions, got length {length}")
        groups = [(g[:, None] == g[None, :]).float() for g in (ROW, COL, BOX)]
    elif structure == "sequence":
        i = torch.arange(length)
        groups = [((i[:, None] - i[None, :]).abs() <= WINDOW).float()]
    else:
        raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
    return torch.stack(groups) * (1.0 - torch.eye(length))         # a position is not its own mate


def group_membership(structure: str, length: int, device=None) -> torch.Tensor:
    """`[groups, length, length]` 0/1: entry (g, i, j) is 1 when j != i shares i's g-th group."""
    return _membership(structure, length).to(device)


def n_features(structure: str) -> int:
    groups = {"sudoku": 3, "sequence": 1}
    if structure not in groups:
        raise ValueError(f"structure must be one of {STRUCTURES}, got {structure!r}")
    return len(OWN_FEATURES) + len(GROUP_FEATURES) * groups[structure]


def _log_odds(p: torch.Tensor) -> torch.Tensor:
    p = p.clamp(EPS, 1 - EPS)
    return p.log() - torch.log1p(-p)


def cell_features(probs: torch.Tensor, masked: torch.Tensor, initial_masked: torch.Tensor,
                  structure: str) -> torch.Tensor:
    """probs `[batch, length, vocab]` (the denoiser's p, the mask token at 0), masked and
    initial_masked `[batch, length]` bool -> `[batch, length, n_features(structure)]` float32."""
    probs = probs.float()
    batch, length, _ = probs.shape
    groups = group_membership(structure, length, probs.device)           # [G, L, L]
    top = probs.topk(2, dim=-1)
    p1, p2 = top.values[..., 0], top.values[..., 1]
    token = top.indices[..., :1]                                         # [B, L, 1]
    entropy = -(probs * probs.clamp_min(1e-30).log()).sum(-1)
    fraction = (masked.sum(-1).float() / initial_masked.sum(-1).clamp(min=1).float())
    feats = [_log_odds(p1), _log_odds(p1 - p2), entropy, _log_odds(p2),
             fraction[:, None].expand(batch, length)]
    if structure == "sudoku":     # groups that partition the grid: 9 x 9 per unit, not 81 x 81
        per_group = _partition_features(probs, masked, token[..., 0], structure, length)
    else:
        # q[b, i, j] = p_j(d_i) at the still-masked j, 0 elsewhere
        q = probs.gather(-1, token.transpose(1, 2).expand(batch, length, length)).transpose(1, 2)
        q = q * masked[:, None, :].float()
        m = masked.float()
        per_group = [((q * g).sum(-1), (q * g).amax(-1),
                      (g * m[:, None, :]).sum(-1) / g.sum(-1).clamp(min=1)) for g in groups]
    for mass, rival, share_masked in per_group:
        share = p1 / (p1 + mass).clamp_min(1e-12)
        feats += [mass, rival, share_masked, share]
    return torch.stack(feats, dim=-1)


@lru_cache(maxsize=4)
def _units(structure: str, length: int) -> list[torch.Tensor]:
    """Per group kind of a partitioning structure, `[units, members]` positions (row-major)."""
    from denoiser.grid import BOX, COL, ROW
    return [torch.argsort(g * length + torch.arange(length)).view(9, 9) for g in (ROW, COL, BOX)]


def _partition_features(probs: torch.Tensor, masked: torch.Tensor, token: torch.Tensor,
                        structure: str, length: int) -> list[tuple[torch.Tensor, ...]]:
    """mass, rival and masked per group kind, as the `[length, length]` membership computes
    them, over the 9 members of each unit only (the other entries are zeros there)."""
    batch = probs.shape[0]
    others = 1.0 - torch.eye(9, device=probs.device)                    # j != i within a unit
    out = []
    for idx in _units(structure, length):
        idx = idx.to(probs.device)
        flat = idx.reshape(-1)
        p_u = probs[:, flat].view(batch, 9, 9, -1)                      # [B, unit, j, V]
        m_u = masked[:, flat].view(batch, 9, 9).float()                  # [B, unit, j]
        d_u = token[:, flat].view(batch, 9, 9)                           # [B, unit, i]
        # q[b, u, i, j] = p_j(d_i) at the still-masked mates j != i, 0 elsewhere
        q = p_u.gather(-1, d_u[:, :, None, :].expand(batch, 9, 9, 9)).transpose(2, 3)
        q = q * m_u[:, :, None, :] * others
        share_masked = (m_u[:, :, None, :] * others).sum(-1) / 8.0
        values = [q.sum(-1), q.amax(-1), share_masked]
        placed = []
        for v in values:
            full = torch.empty(batch, length, dtype=v.dtype, device=v.device)
            full[:, flat] = v.reshape(batch, -1)
            placed.append(full)
        out.append(tuple(placed))
    return out
