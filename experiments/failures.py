"""Where the policies' failures start, and how much any of their orders could win (tasks with
a right answer, e.g. Sudoku).

    python -m experiments.failures [data.limit=N] [sweep=...] [hydra.run.dir=DIR]

For every row of `sweep` (the format of `experiments.compare`) it decodes the data and finds,
in each failed sequence, the first step that wrote a token other than the reference's. That
first wrong commit is one of:

- forced: the step's most confident masked position is wrong. Every policy that ranks by
  confidence and commits at least one position per step commits it from that state, so no
  budget rule avoids it there; only an earlier, different path can.
- parallel: a less confident position, in a step that committed several: a more cautious
  budget would have held it back.
- ranked: a less confident position, committed alone: the policy's ranking (margin, entropy,
  a planner) chose it over the most confident one.

Its confidence p(v1) is binned too. On Sudoku each row also gets its within-step conflict
rates (`experiments/conflicts.py`: two peers committed in one step with the same digit): of
all steps, of the steps that committed several cells, the sequences and the failed sequences
with one, and the failed sequences whose first wrong step held one. Across rows, "solved by any" is what a per-sequence oracle
choosing among these rows' orders would reach, "solved by every" the common core.

Against the sweep's first row (the one-pass baseline), every other row says which failures it
fixed (failed there, solved here) and which it broke; for a sampler that remasks or edits, a
picture of the trajectory of its first fixed sequence is written too
(`trajectory_<policy>_<knob>.png`, as `experiments.trajectory` draws it).

Writes `failures.json`, `failures.md`, `failures.png` (the three kinds per row) and TensorBoard
scalars `eval/<policy>/failures_<kind>` at the rounded mean NFE.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import hydra
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from denoiser.checkpoint import atomic_write_text
from planner import StepRecord
from planner.registry import load_policy

from .compare import held_out_line, load_sweep
from .conflicts import WithinStepConflicts
from .eval_source import data_path, guard_test_only, held_out_note
from .evaluation import run_policy
from .metrics import wilson_interval
from .report import plt, save_figure
from .run_folder import run_folder
from .trajectory import draw_trajectory

KINDS = ("forced", "parallel", "ranked")
# Bins of the first wrong commit's confidence p(v1), as (label, upper end).
CONFIDENCE_BINS = (("<0.5", 0.5), ("0.5-0.9", 0.9), ("0.9-0.99", 0.99), (">=0.99", float("inf")))


@dataclass
class FirstErrors:
    """A `run_policy(on_step=...)` callback: each sequence's first wrong commit.

    references: `[n, length]` the right tokens of the whole evaluation set.
    records: data index -> {"step", "kind", "confidence", "committed", "masked"}.
    """

    references: torch.Tensor
    records: dict[int, dict] = field(default_factory=dict)

    def __call__(self, start: int, record: StepRecord) -> None:
        ctx, chosen = record.ctx, record.selection.chosen
        index = ctx.rows.cpu() + start
        wrong = (chosen & (record.tokens != self.references[index].to(chosen.device))).cpu()
        if not wrong.any():
            return
        confidence = ctx.confidence.float().cpu()
        masked, chosen = ctx.masked.cpu(), chosen.cpu()
        top = confidence.masked_fill(~masked, -1.0).argmax(-1)
        for b in torch.nonzero(wrong.any(-1)).squeeze(1).tolist():
            i = int(index[b])
            if i in self.records:
                continue
            committed = int(chosen[b].sum())
            kind = "forced" if wrong[b, top[b]] else ("parallel" if committed > 1 else "ranked")
            self.records[i] = {"step": int(ctx.step[b]), "kind": kind,
                               "confidence": float(confidence[b][wrong[b]].max()),
                               "committed": committed, "masked": int(masked[b].sum())}


def summarise_failures(correct: torch.Tensor, records: dict[int, dict]) -> dict:
    """Counts of each kind and confidence bin over the failed sequences' first wrong commits.
    A failed sequence always has one (it differs from its reference somewhere)."""
    failed = torch.nonzero(~correct).squeeze(1).tolist()
    missing = [i for i in failed if i not in records]
    if missing:
        raise ValueError(f"sequences {missing[:5]} failed but never committed a token other than "
                         f"the reference's: is the task's check stricter than the reference?")
    first = [records[i] for i in failed]
    bins = {label: 0 for label, _ in CONFIDENCE_BINS}
    for r in first:
        bins[next(label for label, top in CONFIDENCE_BINS if r["confidence"] < top)] += 1
    masked = sorted(r["masked"] for r in first)
    return {"failed": len(failed), **{k: sum(r["kind"] == k for r in first) for k in KINDS},
            "confidence_bins": bins,
            "median_masked": masked[len(masked) // 2] if masked else None}


def union_and_core(correct: list[torch.Tensor]) -> dict:
    """Solved by any row (a per-sequence oracle over these orders) and by every row."""
    stacked = torch.stack(correct)
    n = stacked.shape[1]
    out = {}
    for name, solved in (("any", stacked.any(0)), ("every", stacked.all(0))):
        k = int(solved.sum())
        out[name] = {"accuracy": k / n, "ci95": list(wilson_interval(k, n)), "solved": k}
    return out


def conflicts_table(rows: list[dict]) -> str:
    lines = ["| policy | knob | accuracy | NFE | steps with >= 2 cells | conflict, of all steps | "
             "of steps with >= 2 | sequences with one | failed with one | failed, at the first "
             "wrong step |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        c = r["conflicts"]
        lines.append(f"| {r['policy']} | {r['knob']} | {r['accuracy']:.3f} | {r['nfe_mean']:.1f} | "
                     f"{c['multi_steps'] / max(c['steps'], 1):.3f} | {c['conflict_step_rate']:.3f} | "
                     f"{c['conflict_rate_of_multi_steps']:.3f} | {c['sequences_with_conflict']:.3f} | "
                     f"{c['failed_with_conflict']:.3f} | {c['failed_conflict_at_first_wrong']:.3f} |")
    return "\n".join(lines) + "\n"


def failures_table(rows: list[dict]) -> str:
    bins = [label for label, _ in CONFIDENCE_BINS]
    lines = ["| policy | knob | accuracy | NFE | failed | forced | parallel | ranked | "
             + " | ".join(f"conf {b}" for b in bins) + " | median masked |",
             "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(bins) + "---:|"]
    lines[0] += " fixed | broke |"
    lines[1] += "---:|---:|"
    for r in rows:
        f = r["failures"]
        lines.append(f"| {r['policy']} | {r['knob']} | {r['accuracy']:.3f} | {r['nfe_mean']:.1f} | "
                     f"{f['failed']} | " + " | ".join(str(f[k]) for k in KINDS) + " | "
                     + " | ".join(str(f["confidence_bins"][b]) for b in bins)
                     + f" | {f['median_masked']} | {r.get('fixed', '-')} | {r.get('broke', '-')} |")
    return "\n".join(lines) + "\n"


def failures_plot(rows: list[dict], path: Path, title: str) -> None:
    """The failed sequences of each row, split by the kind of their first wrong commit."""
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.6))
    labels = [f"{r['policy']} {r['knob']} ({r['nfe_mean']:.1f} NFE)" for r in rows]
    left = [0] * len(rows)
    for kind, colour in zip(KINDS, ("tab:red", "tab:orange", "tab:blue")):
        counts = [r["failures"][kind] for r in rows]
        ax.barh(labels, counts, left=left, color=colour, label=kind)
        left = [a + b for a, b in zip(left, counts)]
    ax.invert_yaxis()
    ax.set_xlabel("failed sequences, by their first wrong commit")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    save_figure(fig, path)


def failures(cfg: DictConfig, run_dir: Path) -> dict:
    settings, task, denoiser, data, points = load_sweep(cfg)
    note = held_out_note(guard_test_only(data_path(cfg, task), cfg))
    if not hasattr(task, "correct"):
        raise ValueError(f"task {task.name!r} has no right answer: failures need one")
    if data.references is None:
        raise ValueError(f"{data.source} has no references: failures need the right tokens")
    print(f"tracing {len(points)} policy settings on {len(data)} sequences of {data.source}",
          flush=True)
    logger = instantiate(cfg.logger)(run_dir=run_dir)
    rows, correct = [], []
    for i, (name, label, overrides) in enumerate(points, 1):
        trace = FirstErrors(data.references)
        conflicts = WithinStepConflicts() if task.structure == "sudoku" else None

        def on_step(start, record, trace=trace, conflicts=conflicts):
            trace(start, record)
            if conflicts is not None:
                conflicts(start, record)

        policy = load_policy(name, **overrides)
        run = run_policy(task, denoiser, policy, data,
                         batch_size=settings.batch_size, temperature=settings.temperature,
                         seed=cfg.seed, on_step=on_step)
        summary = summarise_failures(run.correct, trace.records)
        row = {"policy": name, "knob": label, "accuracy": float(run.correct.float().mean()),
               "nfe_mean": float(run.nfe.float().mean()), "failures": summary}
        if correct:
            base = correct[0]
            row["fixed"] = int((~base & run.correct).sum())
            row["broke"] = int((base & ~run.correct).sum())
            fixed = torch.nonzero(~base & run.correct).squeeze(1)
            if policy.revises and fixed.numel():
                safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in label)
                draw_trajectory(task, denoiser, policy, data, int(fixed[0]), settings.temperature,
                                cfg.seed, run_dir / f"trajectory_{name}_{safe}.png")
        if conflicts is not None:
            row["conflicts"] = conflicts.summary(
                run.correct, {i: r["step"] for i, r in trace.records.items()})
        rows.append(row)
        correct.append(run.correct)
        logger.scalars({f"eval/{name}/failures_{k}": summary[k] for k in KINDS},
                       int(round(row["nfe_mean"])))
        print(f"[{i}/{len(points)}] {name:<16} {label:<14} accuracy {row['accuracy']:.3f}  "
              f"NFE {row['nfe_mean']:5.1f}  failed {summary['failed']}: "
              + ", ".join(f"{k} {summary[k]}" for k in KINDS), flush=True)
    logger.close()
    across = union_and_core(correct)
    result = {"rows": rows, "across": across, "n": len(data), **note}
    lines = [f"- solved by {name} row: {v['accuracy']:.3f} ({v['ci95'][0]:.3f}-{v['ci95'][1]:.3f}), "
             f"{v['solved']} of {len(data)}" for name, v in across.items()]
    md = (f"# {cfg.title}\n\n{len(data)} sequences of `{Path(data.source).name}`, seed {cfg.seed}. "
          f"The kind of each failed sequence's first wrong commit, and its confidence "
          f"(`experiments/failures.py`). Fixed / broke: against the first row.\n\n"
          f"{held_out_line(note)}{failures_table(rows)}\n" + "\n".join(lines) + "\n")
    if all("conflicts" in r for r in rows):
        md += ("\n## Within-step conflicts\n\nTwo cells of one row, column or box committed in "
               "the same step with the same digit (`experiments/conflicts.py`).\n\n"
               + conflicts_table(rows))
    atomic_write_text(md, run_dir / "failures.md")
    atomic_write_text(json.dumps(result, indent=2) + "\n", run_dir / "failures.json")
    failures_plot(rows, run_dir / "failures.png", f"{cfg.title} (n={len(data)})")
    print("\n" + md)
    for name in ("failures.md", "failures.json", "failures.png"):
        print(f"{name}: {run_dir / name}")
    return result


@hydra.main(version_base=None, config_path="configs", config_name="failures")
def main(cfg: DictConfig) -> None:
    with run_folder(cfg, holds=("failures.json",)) as run_dir:
        failures(cfg, run_dir)


if __name__ == "__main__":
    main()
