"""The posterior-to-prior gap (issue 14): at each price beta, the accuracy and NFE of sampling
with the trained prior P_theta (the planner) and with its posterior Q_phi (an oracle: it sees
the solution), beside the best heuristic at the prior's NFE.

    python -m experiments.oracle planner_path=runs/train_planner/fewstep/snapshots/step_000100 \\
        [heuristics=runs/compare/sudoku_fewstep/<time>/results.json] [data.limit=N]

`planner_path` is a planner folder with its posterior beside it (`<planner>/posterior`, written by
`experiments.train_planner`). With `heuristics` (a `results.json` of `experiments.compare`) the
best heuristic's accuracy at the prior's mean NFE is the upper envelope of the heuristic rows
(every policy but `learned*`), linearly interpolated in NFE, and

    share = (P_theta - heuristic) / (Q_phi - heuristic)

is the share of the oracle-minus-heuristic gap that the prior recovers (at the prior's NFE;
the oracle's accuracy there is interpolated along its own beta curve). Writes `oracle.md`,
`oracle.json` and `eval/oracle/*`, `eval/prior/*` scalars.
"""
from __future__ import annotations

import json
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from denoiser.checkpoint import atomic_write_text
from planner import sample
from tasks.paths import REPO_ROOT
from vi.checkpoint import load_planner, load_posterior
from vi.oracle import PosteriorOracle
from vi.policy import LearnedPlanner

from .evaluation import PolicyRun, frozen_for_task, run_policy
from .metrics import wilson_interval


def run_oracle(task, denoiser, posterior, data, beta: float, batch_size: int,
               threshold: float = 0.5) -> PolicyRun:
    """Sample every prompt with the posterior, one oracle per batch (it needs that batch's
    solutions)."""
    import time
    samples, nfe = [], []
    t0 = time.perf_counter()
    for start in range(0, len(data), batch_size):
        refs = data.references[start:start + batch_size]
        oracle = PosteriorOracle(posterior, refs, beta=beta, threshold=threshold)
        out = sample(denoiser, oracle, data.prompts[start:start + batch_size])
        samples.append(out.tokens.cpu())
        nfe.append(out.nfe.cpu())
    samples_t = torch.cat(samples)
    correct = task.correct(samples_t, data.prompts, data.references)
    return PolicyRun(samples_t, correct, torch.cat(nfe), time.perf_counter() - t0)


def front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The upper envelope of (nfe, accuracy) points: sorted by NFE, each point kept only if it
    is more accurate than every point with fewer calls."""
    out: list[tuple[float, float]] = []
    for nfe, acc in sorted(points):
        if not out or acc > out[-1][1]:
            out.append((nfe, acc))
    return out


def interpolate(curve: list[tuple[float, float]], nfe: float) -> float | None:
    """Linear interpolation of a front at `nfe`; the envelope is a step function beyond its
    ends (the first point's accuracy below it is not claimed: None)."""
    if not curve or nfe < curve[0][0]:
        return None
    for (n0, a0), (n1, a1) in zip(curve, curve[1:]):
        if n0 <= nfe <= n1:
            return a0 + (a1 - a0) * (nfe - n0) / (n1 - n0) if n1 > n0 else max(a0, a1)
    return curve[-1][1]


def heuristic_front(path: str | Path) -> list[tuple[float, float]]:
    rows = json.loads(Path(path).read_text())
    return front([(r["nfe_mean"], r["accuracy"]) for r in rows
                  if not r["policy"].startswith("learned")])


def gap_share(prior: float, oracle: float | None, heuristic: float | None) -> float | None:
    if oracle is None or heuristic is None or oracle <= heuristic:
        return None
    return (prior - heuristic) / (oracle - heuristic)


def oracle_table(rows: list[dict]) -> str:
    lines = ["| beta | P_theta accuracy | 95% CI | NFE | Q_phi (oracle) accuracy | NFE | "
             "Q_phi at P's NFE | best heuristic at P's NFE | share of the gap |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v: "" if v is None else f"{v:.3f}"
    for r in rows:
        p, q = r["prior"], r["oracle"]
        lines.append(f"| {r['beta']:g} | {p['accuracy']:.3f} | {p['ci95'][0]:.3f}-{p['ci95'][1]:.3f} | "
                     f"{p['nfe_mean']:.1f} | {q['accuracy']:.3f} | {q['nfe_mean']:.1f} | "
                     f"{fmt(r.get('oracle_at_prior_nfe'))} | {fmt(r.get('heuristic'))} | "
                     f"{fmt(r.get('share'))} |")
    return "\n".join(lines) + "\n"


def summary(run: PolicyRun) -> dict:
    k, n = int(run.correct.sum()), run.correct.numel()
    return {"accuracy": k / n, "ci95": list(wilson_interval(k, n)), "n": n,
            "nfe_mean": float(run.nfe.float().mean()), "nfe_max": int(run.nfe.max())}


def oracle(cfg: DictConfig, run_dir: Path) -> list[dict]:
    settings = instantiate(cfg.eval)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    task = instantiate(cfg.task)
    if not hasattr(task, "correct"):
        raise ValueError(f"task {task.name!r} has no right answer: the oracle gap needs one")
    denoiser = frozen_for_task(instantiate(cfg.denoiser), task, settings.device)
    path = Path(cfg.planner_path)
    path = path if path.is_absolute() else REPO_ROOT / path
    prior, _ = load_planner(path, denoiser)
    posterior, _ = load_posterior(path / "posterior", denoiser)
    data = task.load_eval(cfg.data.path, cfg.data.limit, cfg.data.select)
    if data.references is None:
        raise ValueError(f"{data.source} has no solutions: the oracle needs them")
    logger = instantiate(cfg.logger)(run_dir=run_dir)
    rows = []
    for beta in cfg.betas:
        p = summary(run_policy(task, denoiser, LearnedPlanner(prior, beta=beta), data,
                               batch_size=settings.batch_size, seed=cfg.seed))
        q = summary(run_oracle(task, denoiser, posterior, data, beta, settings.batch_size))
        rows.append({"beta": float(beta), "prior": p, "oracle": q})
        for name, r in (("prior", p), ("oracle", q)):
            logger.scalars({f"eval/{name}/accuracy": r["accuracy"],
                            f"eval/{name}/nfe_mean": r["nfe_mean"]}, int(round(r["nfe_mean"])))
        print(f"beta {beta:g}: P_theta {p['accuracy']:.3f} at {p['nfe_mean']:.1f} calls, "
              f"Q_phi {q['accuracy']:.3f} at {q['nfe_mean']:.1f}", flush=True)
    logger.close()
    oracle_curve = front([(r["oracle"]["nfe_mean"], r["oracle"]["accuracy"]) for r in rows])
    heuristics = heuristic_front(cfg.heuristics) if cfg.heuristics else None
    for r in rows:
        nfe = r["prior"]["nfe_mean"]
        r["oracle_at_prior_nfe"] = interpolate(oracle_curve, nfe)
        if heuristics is not None:
            r["heuristic"] = interpolate(heuristics, nfe)
            r["share"] = gap_share(r["prior"]["accuracy"], r["oracle_at_prior_nfe"], r["heuristic"])
    md = (f"# The posterior-to-prior gap\n\nPlanner `{cfg.planner_path}`, {len(data)} sequences of "
          f"`{Path(data.source).name}`; heuristics: `{cfg.heuristics}`.\n\n{oracle_table(rows)}")
    atomic_write_text(md, run_dir / "oracle.md")
    atomic_write_text(json.dumps(rows, indent=2) + "\n", run_dir / "oracle.json")
    print("\n" + md)
    return rows


@hydra.main(version_base=None, config_path="configs", config_name="oracle")
def main(cfg: DictConfig) -> None:
    oracle(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
