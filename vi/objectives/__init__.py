"""The peers' training objectives for the same planner network (issue 17,
docs/results/objectives.md), each a `pyro.infer.ELBO`-style class that `SVI` and
`experiments.train_planner` drive as they drive the VI estimators of `vi/estimators.py`:

- `GRPO` (grpo.py): reinforcement learning on the frozen denoiser, group-normalised rewards
  (Jazbec et al. 2025, "Learning Unmasking Policies for Diffusion Language Models"), with
  UPO's optional KL penalty towards a reference rule (Hong et al. 2025);
- `OracleImitation` (imitation.py): imitation of the ground-truth-margin oracle order
  (Asano et al. 2026, "Where-to-Unmask", arXiv 2602.09501);
- `LOARM_ELBO` (loarm.py): the order model's ELBO with one position per step (LO-ARM,
  Wang, Shi et al. 2025).
"""
from .grpo import GRPO
from .imitation import OracleImitation, gt_margin, oracle_subset
from .loarm import LOARM_ELBO

__all__ = ["GRPO", "OracleImitation", "LOARM_ELBO", "gt_margin", "oracle_subset"]
