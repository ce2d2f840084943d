"""`LOARM_ELBO`: LO-ARM (Wang, Shi et al. 2025, "Learning-Order Autoregressive Models"), the
variational order model of docs/design.md section 3 with one position per step.

The model and the guide are the order model's programs unchanged; what changes is the subset
family of both networks, `SingletonSubset` (a categorical over the still-masked positions,
`planner.family=singleton`), so every trajectory takes |M0| steps and the price beta * K is
the same for every order (it moves nothing). The estimator is the Rao-Blackwellised
leave-one-out one of `vi/estimators.py` with the closed-form marginals, entropy and KL of a
categorical (LO-ARM's own gradient is a leave-one-out REINFORCE over the order, the same
construction). It refuses step sites of another family; `experiments.train_planner` checks
`family` against the planner config before it builds anything.
"""
from __future__ import annotations

from ..estimators import RaoBlackwellLOO_ELBO
from ..singleton import SingletonSubset


class LOARM_ELBO(RaoBlackwellLOO_ELBO):
    family = "singleton"
    families = (SingletonSubset,)
