"""Write a comparison: CSV, Markdown tables, the Pareto plot (PNG)."""
from __future__ import annotations

import csv
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from denoiser.checkpoint import atomic_write_text  # noqa: E402

COLUMNS = ["policy", "knob", "accuracy", "ci95_low", "ci95_high", "nfe_mean", "nfe_max",
           "seconds_per_sequence", "n"]


def rows_of(results: list[dict]) -> list[dict]:
    return [{"policy": r["policy"], "knob": r["knob"], "accuracy": r["accuracy"],
             "ci95_low": r["accuracy_ci95"][0], "ci95_high": r["accuracy_ci95"][1],
             "nfe_mean": r["nfe_mean"], "nfe_max": r["nfe_max"],
             "seconds_per_sequence": r["seconds_per_sequence"], "n": r["n"]} for r in results]


def write_csv(results: list[dict], path: Path) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows_of(results))
    atomic_write_text(buf.getvalue(), path)


def markdown_table(results: list[dict]) -> str:
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
    for r in results:
        table = r["buckets"].get(column, {})
        cells = [f"{table[lab]['accuracy']:.2f}" if lab in table else "" for lab in labels]
        lines.append(f"| {r['policy']} | {r['knob']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def pareto_plot(results: list[dict], path: Path, title: str) -> None:
    """Accuracy against mean NFE, one line per policy, 95% interval bars, log NFE axis."""
    fig, ax = plt.subplots(figsize=(9, 6))
    policies = list(dict.fromkeys(r["policy"] for r in results))
    cmap = plt.get_cmap("tab20")
    for i, name in enumerate(policies):
        pts = sorted((r for r in results if r["policy"] == name), key=lambda r: r["nfe_mean"])
        x = [r["nfe_mean"] for r in pts]
        y = [r["accuracy"] for r in pts]
        err = [[r["accuracy"] - r["accuracy_ci95"][0] for r in pts],
               [r["accuracy_ci95"][1] - r["accuracy"] for r in pts]]
        style = dict(lw=2.5, marker="*", ms=11) if name == "learned" else dict(lw=1.3, marker="o", ms=4)
        ax.errorbar(x, y, yerr=err, label=name, color=cmap(i % 20), capsize=2, **style)
    ax.set_xscale("log")
    ax.set_xlabel("mean NFE (denoiser calls per sequence, log scale)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    tmp.replace(path)
