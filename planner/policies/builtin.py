"""The heuristics of this package under their names, at their classes' default knobs (the
same values as their configs in experiments/configs/policy/; a test checks it). A new
heuristic adds one line here beside its file and its config."""
from ..registry import register_policy
from .eb import EBSampler
from .entropy import LowestEntropy
from .factor import FactorRule
from .factor_margin import MarginFactorRule
from .hyperschedule_block import BlockAnnealing
from .hyperschedule_window import SlidingWindow
from .pc import PCSampler
from .random import VanillaAncestral
from .random_k import RandomK
from .semi_ar import SemiAutoregressive
from .threshold import ConfidenceThreshold
from .topk_margin import TopKMargin
from .topk_prob import TopKProbability

BUILTIN = {
    "eb": EBSampler,
    "entropy": LowestEntropy,
    "factor": FactorRule,
    "factor_margin": MarginFactorRule,
    "hyperschedule_block": BlockAnnealing,
    "hyperschedule_window": SlidingWindow,
    "pc": PCSampler,
    "random": VanillaAncestral,
    "random_k": RandomK,
    "semi_ar": SemiAutoregressive,
    "threshold": ConfidenceThreshold,
    "topk_margin": TopKMargin,
    "topk_prob": TopKProbability,
}

for _name, _cls in BUILTIN.items():
    register_policy(_name, _cls)
