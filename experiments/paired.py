"""Paired differences at matched NFE: one policy's rows against every other policy's rows that
spend about as many denoiser calls, on the same sequences.

Two policies run on the same puzzles mostly solve and fail the same ones, so the interval of
the difference of their accuracies, taken over per-sequence differences, is narrower than the
two accuracies' own intervals (on 2,000 Sudoku puzzles +-0.4 to +-1.4 points against +-1.9):
it is the test of "more accurate at matched NFE". Each pair also reports the discordant counts (solved by one only), McNemar's statistic.
"""
from __future__ import annotations

import torch

from .metrics import mean_interval


def paired_differences(rows: list[dict], correct: list[torch.Tensor], reference: str,
                       nfe_tolerance: float) -> list[dict]:
    """rows: the comparison's result rows (policy, knob, nfe_mean, ...); correct: each row's
    `[n]` bool per-sequence results, in the same order. Every row of policy `reference` is
    paired with every row of another policy whose mean NFE is within `nfe_tolerance` calls."""
    if len(rows) != len(correct):
        raise ValueError(f"{len(rows)} rows but {len(correct)} per-sequence results")
    if nfe_tolerance < 0:
        raise ValueError(f"nfe_tolerance must be >= 0, got {nfe_tolerance!r}")
    if not any(r["policy"] == reference for r in rows):
        raise ValueError(f"paired.reference {reference!r} is not among the compared policies "
                         f"{sorted({r['policy'] for r in rows})}")
    out = []
    for r, cr in zip(rows, correct):
        if r["policy"] != reference:
            continue
        for o, co in zip(rows, correct):
            if o["policy"] == reference or abs(o["nfe_mean"] - r["nfe_mean"]) > nfe_tolerance:
                continue
            if cr.shape != co.shape:
                raise ValueError(f"rows {r['knob']!r} and {o['knob']!r} ran on different data")
            mean, lo, hi = mean_interval(cr.double() - co.double())
            out.append({"policy": r["policy"], "knob": r["knob"], "nfe": r["nfe_mean"],
                        "other_policy": o["policy"], "other_knob": o["knob"],
                        "other_nfe": o["nfe_mean"], "difference": mean, "ci95": [lo, hi],
                        "only_policy": int((cr & ~co).sum()), "only_other": int((co & ~cr).sum()),
                        "n": int(cr.numel())})
    return out


def paired_table(pairs: list[dict]) -> str:
    """The pairs as a Markdown table (accuracy differences in points)."""
    if not pairs:
        return "No row of another policy is within the NFE tolerance.\n"
    lines = ["| policy | knob | NFE | against | knob | NFE | difference (points) | 95% CI | "
             "solved by it only | by the other only |",
             "|---|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for p in pairs:
        lo, hi = p["ci95"]
        lines.append(f"| {p['policy']} | {p['knob']} | {p['nfe']:.1f} | {p['other_policy']} | "
                     f"{p['other_knob']} | {p['other_nfe']:.1f} | {100 * p['difference']:+.1f} | "
                     f"{100 * lo:+.1f} to {100 * hi:+.1f} | {p['only_policy']} | {p['only_other']} |")
    return "\n".join(lines) + "\n"
