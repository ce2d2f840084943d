"""Write a comparison: CSV, Markdown tables, the Pareto plot (PNG).

Results either carry `accuracy` (tasks with a right answer: Sudoku, addition, alternation) or
`quality` and `primary` (text: gen PPL and entropy); the tables and the plot show whichever
they carry, the plot the accuracy or the primary quality metric against mean NFE."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from denoiser.atomic import atomic_write, atomic_write_text  # noqa: E402

COLUMNS = ["policy", "knob", "accuracy", "ci95_low", "ci95_high", "nfe_mean", "nfe_max",
           "seconds_per_sequence", "n"]


def is_quality(results: list[dict]) -> bool:
    return bool(results) and "quality" in results[0]


def quality_columns(results: list[dict]) -> list[str]:
    cols = ["policy", "knob"]
    for name in results[0]["quality"]:
        cols += [name, f"{name}_ci95_low", f"{name}_ci95_high"]
    return cols + ["nfe_mean", "nfe_max", "seconds_per_sequence", "n"]


def quality_rows(results: list[dict]) -> list[dict]:
    rows = []
    for r in results:
        row = {"policy": r["policy"], "knob": r["knob"]}
        for name, q in r["quality"].items():
            row.update({name: q["mean"], f"{name}_ci95_low": q["ci95"][0],
                        f"{name}_ci95_high": q["ci95"][1]})
        row.update({"nfe_mean": r["nfe_mean"], "nfe_max": r["nfe_max"],
                    "seconds_per_sequence": r["seconds_per_sequence"], "n": r["n"]})
        rows.append(row)
    return rows


def rows_of(results: list[dict]) -> list[dict]:
    if is_quality(results):
        return quality_rows(results)
    return [{"policy": r["policy"], "knob": r["knob"], "accuracy": r["accuracy"],
             "ci95_low": r["accuracy_ci95"][0], "ci95_high": r["accuracy_ci95"][1],
             "nfe_mean": r["nfe_mean"], "nfe_max": r["nfe_max"],
             "seconds_per_sequence": r["seconds_per_sequence"], "n": r["n"]} for r in results]


def write_csv(results: list[dict], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=quality_columns(results) if is_quality(results) else COLUMNS)
    writer.writeheader()
    writer.writerows(rows_of(results))
    atomic_write_text(buf.getvalue(), path)


def quality_table(results: list[dict]) -> str:
    names = list(results[0]["quality"])
    labels = [results[0]["quality"][n]["label"] for n in names]
    head = "| policy | knob | " + " | ".join(f"{lab} | 95% CI" for lab in labels)
    lines = [head + " | mean NFE | max NFE | ms / sequence |",
             "|---|---|" + "---:|---:|" * len(names) + "---:|---:|---:|"]
    for r in results:
        cells = " | ".join(f"{r['quality'][n]['mean']:.2f} | {r['quality'][n]['ci95'][0]:.2f}-"
                           f"{r['quality'][n]['ci95'][1]:.2f}" for n in names)
        lines.append(f"| {r['policy']} | {r['knob']} | {cells} | {r['nfe_mean']:.1f} | "
                     f"{r['nfe_max']} | {1000 * r['seconds_per_sequence']:.1f} |")
    return "\n".join(lines) + "\n"


def markdown_table(results: list[dict]) -> str:
    if is_quality(results):
        return quality_table(results)
    lines = ["| policy | knob | accuracy | 95% CI | mean NFE | max NFE | ms / sequence |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lo, hi = r["accuracy_ci95"]
        lines.append(f"| {r['policy']} | {r['knob']} | {r['accuracy']:.3f} | {lo:.3f}-{hi:.3f} | "
                     f"{r['nfe_mean']:.1f} | {r['nfe_max']} | {1000 * r['seconds_per_sequence']:.1f} |")
    return "\n".join(lines) + "\n"


def difficulty_table(results: list[dict], column: str) -> str:
    labels: list[str] = []
    for r in results:
        for label in r["buckets"].get(column, {}):
            if label not in labels:
                labels.append(label)
    if not labels:
        return ""
    head = f"| policy | knob | " + " | ".join(f"{column}={lab}" for lab in labels) + " |"
    lines = [head, "|---|---|" + "---:|" * len(labels)]
    # every row ran on the same sequences, so one row of counts serves the table
    counts = {lab: t["n"] for r in results for lab, t in r["buckets"].get(column, {}).items()}
    lines.append("| n | | " + " | ".join(str(counts[lab]) for lab in labels) + " |")
    for r in results:
        table = r["buckets"].get(column, {})
        cells = [f"{table[lab]['accuracy']:.2f}" if lab in table else "" for lab in labels]
        lines.append(f"| {r['policy']} | {r['knob']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def headline_metric(r: dict) -> tuple[float, float, float, str, bool]:
    """(value, interval low, high, axis label, lower is better) of the plotted metric."""
    if "accuracy" in r:
        lo, hi = r["accuracy_ci95"]
        return r["accuracy"], lo, hi, "accuracy", False
    q = r["quality"][r["primary"]]
    direction = "lower is better" if q["lower_is_better"] else "higher is better"
    return q["mean"], q["ci95"][0], q["ci95"][1], f"{q['label']} ({direction})", q["lower_is_better"]


def pareto_plot(results: list[dict], path: Path, title: str) -> None:
    """Accuracy (or the task's primary quality metric) against mean NFE, one line per policy,
    95% interval bars, log NFE axis."""
    fig, ax = plt.subplots(figsize=(9, 6))
    policies = list(dict.fromkeys(r["policy"] for r in results))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(policies):
        pts = sorted((r for r in results if r["policy"] == name), key=lambda r: r["nfe_mean"])
        x = [r["nfe_mean"] for r in pts]
        metric = [headline_metric(r) for r in pts]
        y = [m[0] for m in metric]
        # clamped at 0: at an accuracy of 1 the Wilson bound can round a hair below it
        err = [[max(0.0, m[0] - m[1]) for m in metric], [max(0.0, m[2] - m[0]) for m in metric]]
        style = dict(lw=2.5, marker="*", ms=11) if name == "learned" else dict(lw=1.3, marker="o", ms=4)
        ax.errorbar(x, y, yerr=err, label=name, color=cmap(i % 20), capsize=2, **style)
    ax.set_xscale("log")
    ax.set_xlabel("mean NFE (denoiser calls per sequence, log scale)")
    _, _, _, ylabel, lower_better = headline_metric(results[0])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="upper right" if lower_better else "lower right")
    save_figure(fig, path)


def save_figure(fig, path: Path) -> None:
    """Lay out `fig`, write it to `path` as a PNG through a temporary file (never a half-written
    plot), and close it."""
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    finally:
        plt.close(fig)
