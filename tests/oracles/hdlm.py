"""hdlm's tau-hyperschedules (Fathi et al. 2025, arXiv:2504.06416): the per-position noise
levels of block annealing and simple annealing (the sliding window).

Transcribed from ServiceNow/hdlm @ 3bd78298f906947370857165e62e69515aa8c302,
`hdlm/metaschedule.py` (`MetaSchedule.__call__`, `MetaScheduleStep.__call__`, `_get_shifts`,
`make_block_annealing`, `make_simple_annealing`).

A metaschedule step t gives each position an integer level in 0..tau (0 clean, tau =
"worthless", fully masked): `num_settled` zeros, then the step's relevant levels, then tau.
For a frozen absorbing-mask denoiser the project derandomises it: a position at level l is
revealed with probability 1 - l/tau, so the expected number revealed at step t is
E(t) = sum_p (1 - level_t(p) / tau), and the q-th generated position (left to right) is
revealed at the first step with E(t) >= q + 1 (for block annealing, block by block: the j-th
position of a block of m at the first step with m (1 - l/tau) >= j + 1). That reading is the
project's (hdlm trains a model on noisy levels); `oracle_reveal_*` below is that reading of
hdlm's schedules.
"""
from __future__ import annotations

from fractions import Fraction


class Meta:
    """MetaSchedule: main `steps`, bootstrap steps and shifts."""

    def __init__(self, steps, bootstrap_steps, bootstrap_shifts):
        self.steps = [tuple(s) for s in steps]
        self.bootstrap = [tuple(s) for s in bootstrap_steps]
        self.bootstrap_shifts = list(bootstrap_shifts)
        self.worthless = max(v for s in self.steps for v in s) + 1
        shifts = [0]
        for step in self.steps:                  # leading zeros of each main step, cumulated
            lead = 0
            for v in step:
                if v != 0:
                    break
                lead += 1
            shifts.append(shifts[-1] + lead)
        self.shifts = shifts

    def levels(self, t: int, n: int) -> list[int]:
        """The levels of positions 0..n-1 at step t >= 1 (no condition padding: the caller
        counts positions from the first generated one)."""
        if t - 1 < len(self.bootstrap):
            relevant, shift = self.bootstrap[t - 1], self.bootstrap_shifts[t - 1]
        else:
            phase = (t - 1 - len(self.bootstrap)) % len(self.steps)
            cycle = (t - 1 - len(self.bootstrap)) // len(self.steps)
            relevant = self.steps[phase]
            shift = self.bootstrap_shifts[-1] + self.shifts[phase] + self.shifts[-1] * cycle
        row = (0,) * shift + relevant
        row = row + (self.worthless,) * max(0, n - len(row))
        return list(row[:n])


def block_annealing(width: int, tau: int) -> Meta:
    steps = [[0] * width] + [[i] * width for i in range(tau - 1, 0, -1)]
    bootstrap = [[i] * width for i in range(tau - 1, 0, -1)]
    return Meta(steps, bootstrap, [0] * tau)


def simple_annealing(width: int, tau: int) -> Meta:
    if width == 1:
        main = (tau - 1,)
    else:
        main = tuple(round(i * (tau - 1) / (width - 1)) for i in range(width))
    bootstrap = [main[-t:] for t in range(1, len(main))]
    return Meta([main], bootstrap, [0] * len(main))


def oracle_reveal_window(width: int, n: int) -> list[int]:
    """0-based reveal step of each of n positions under simple annealing with tau = width,
    run until every level is 0 (steps 1, 2, ...)."""
    ms, tau = simple_annealing(width, width), width
    reveal, t = [None] * n, 0
    while None in reveal:
        t += 1
        levels = ms.levels(t, n)
        expected = sum(Fraction(tau - lv, tau) for lv in levels)
        for q in range(n):
            if reveal[q] is None and expected >= q + 1:
                reveal[q] = t - 1
        assert t < 10 * (n + width), "the schedule did not finish"
    return reveal


def oracle_reveal_blocks(width: int, tau: int, n: int) -> list[int]:
    """0-based reveal step of each of n positions under block annealing (width, tau), block by
    block (the levels are shared by a block's positions)."""
    ms = block_annealing(width, tau)
    reveal, t = [None] * n, 0
    while None in reveal:
        t += 1
        levels = ms.levels(t, n)
        for q in range(n):
            b, j = divmod(q, width)
            m = min(width, n - b * width)
            if reveal[q] is None and m * (tau - levels[q]) >= (j + 1) * tau:
                reveal[q] = t - 1
        assert t < 10 * (n + tau * width), "the schedule did not finish"
    return reveal


def hybrid_annealing_steps(width: int, tau: int, seq_len: int) -> list[list[int]]:
    """`make_hybrid_annealing`'s stored steps: for each block of `width` (the last may be
    shorter), tau + width - 1 steps; at sub-step s place j of the block gets
    max(0, tau - 1 - max(0, s - j)); earlier blocks stay 0, later ones at tau."""
    steps, current = [], [tau] * seq_len
    for b, start in enumerate(range(0, seq_len, width)):
        size = min(width, seq_len - start)
        for s in range(tau + width - 1):
            new = current[:]
            for j in range(size):
                new[start + j] = max(0, (tau - 1) - max(0, s - j))
            steps.append(new)
            current = new
    return steps


def oracle_reveal_hybrid(width: int, tau: int, n: int) -> list[int]:
    """0-based reveal step of each of n positions under hybrid annealing (expected count over
    all positions, revealed left to right)."""
    reveal = [None] * n
    for t, levels in enumerate(hybrid_annealing_steps(width, tau, n)):
        expected = sum(Fraction(tau - lv, tau) for lv in levels)
        for q in range(n):
            if reveal[q] is None and expected >= q + 1:
                reveal[q] = t
    assert None not in reveal
    return reveal
