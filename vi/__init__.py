"""The variational order model: which positions a masked diffusion model unmasks per step.

    from vi import OrderModel, PriorNet, PosteriorNet, RaoBlackwellLOO_ELBO
    order = OrderModel(frozen_denoiser, PriorNet(V, N), PosteriorNet(V, N))
    svi = pyro.infer.SVI(order.model, order.guide, pyro.optim.Adam({"lr": 1e-3}),
                         loss=RaoBlackwellLOO_ELBO(num_particles=4))
    svi.step(x, masked, beta=0.1)

See docs/design.md section 3 for the mathematics and each module's docstring for its part.
Importing the package registers the learned planner as the policy `learned`.
"""
from planner.registry import register_policy

from .estimators import (OneStepLOO_ELBO, RaoBlackwellLOO_ELBO, StepCosts, reference_elbo,
                         split_costs)
from .exact import ExactTerms, exact_log_likelihood, exact_terms, ordered_partitions
from .features import DenoiserSummary, OrderState, state_features, truth_features
from .model import OrderModel, RevealLikelihood
from .networks import PosteriorNet, PriorNet, SubsetNet
from .policy import LearnedPlanner
from .subset import BernoulliSubset
from .learned_policy import DEFAULTS as _LEARNED_DEFAULTS, Learned
from .learned_correct_policy import LearnedCorrect
from .learned_backtrack_policy import LearnedBacktrack

register_policy("learned", Learned, **_LEARNED_DEFAULTS)
# the few-step planner (docs/results/sudoku_fewstep.md): the same policy on its own weights
register_policy("learned_fewstep", Learned, **{**_LEARNED_DEFAULTS, "beta": 0.1,
                                                "path": "weights/sudoku-planner-fewstep"})
# the few-step text planner (docs/results/text.md, "Few calls"): sampled subsets, as it was
# trained, on the 3.2M text MDM (denoiser=text)
register_policy("learned_text_fewstep", Learned, **{**_LEARNED_DEFAULTS, "beta": 1.0,
                                                     "mode": "sample",
                                                     "path": "weights/text-planner-fewstep"})
# the correctness planner (docs/results/sudoku_fewstep.md): the cells of highest learned
# probability that their argmax is right, as many as the factor rule on the margin takes
register_policy("learned_correct", LearnedCorrect, path="weights/sudoku-correctness", f=2.5,
                count="margin")
# self-verified restarts over the correctness planner (docs/results/sudoku_fix.md)
register_policy("learned_backtrack", LearnedBacktrack)
# the VI few-step planner started as the correctness planner (docs/results/sudoku_fewstep.md)
register_policy("learned_fewstep_correct", Learned, **{**_LEARNED_DEFAULTS, "beta": 0.08,
                                                        "path": "weights/sudoku-planner-fewstep-correct"})
# the same network trained by the peers' objectives (issue 17, docs/results/objectives.md)
for _objective in ("grpo", "imitation", "loarm"):
    register_policy(f"learned_{_objective}", Learned,
                    **{**_LEARNED_DEFAULTS, "path": f"weights/sudoku-planner-{_objective}"})

__all__ = ["BernoulliSubset", "DenoiserSummary", "OrderState", "state_features",
           "truth_features", "SubsetNet", "PriorNet", "PosteriorNet", "OrderModel",
           "RevealLikelihood", "RaoBlackwellLOO_ELBO", "OneStepLOO_ELBO", "reference_elbo",
           "StepCosts", "split_costs", "ExactTerms", "exact_terms", "exact_log_likelihood",
           "ordered_partitions", "LearnedPlanner", "Learned", "LearnedCorrect", "LearnedBacktrack"]
