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


def unpaired_rows(rows: list[dict], reference: str, nfe_tolerance: float) -> list[dict]:
    """The rows of policy `reference` that no row of another policy is within
    `nfe_tolerance` calls of: they have no paired difference, and the table says so."""
    return [r for r in rows if r["policy"] == reference
            and not any(o["policy"] != reference and abs(o["nfe_mean"] - r["nfe_mean"]) <= nfe_tolerance
                        for o in rows)]


def interval_cell(p: dict) -> str:
    """The 95% interval in points; with no discordant sequence the two rows solved exactly
    the same ones, which a zero-width interval would present as certainty: say it instead."""
    if p["only_policy"] == 0 and p["only_other"] == 0:
        return f"none: no sequence discordant (of {p['n']})"
    lo, hi = p["ci95"]
    return f"{100 * lo:+.1f} to {100 * hi:+.1f}"


def paired_table(pairs: list[dict], unpaired: list[dict] = (), nfe_tolerance: float | None = None) -> str:
    """The pairs as a Markdown table (accuracy differences in points), then a line for each
    reference row that has no partner within the tolerance (`unpaired_rows`)."""
    within = "" if nfe_tolerance is None else f" within {nfe_tolerance:g} calls"
    missing = "".join(f"\n- {r['policy']} {r['knob']} ({r['nfe_mean']:.1f} calls): no row of "
                      f"another policy{within}, so no paired difference" for r in unpaired)
    if not pairs:
        return "No row of another policy is within the NFE tolerance.\n" + (missing[1:] + "\n" if missing else "")
    lines = ["| policy | knob | NFE | against | knob | NFE | difference (points) | 95% CI | "
             "solved by it only | by the other only |",
             "|---|---|---:|---|---|---:|---:|---:|---:|---:|"]
    for p in pairs:
        lines.append(f"| {p['policy']} | {p['knob']} | {p['nfe']:.1f} | {p['other_policy']} | "
                     f"{p['other_knob']} | {p['other_nfe']:.1f} | {100 * p['difference']:+.1f} | "
                     f"{interval_cell(p)} | {p['only_policy']} | {p['only_other']} |")
    return "\n".join(lines) + "\n" + (f"{missing}\n" if missing else "")
