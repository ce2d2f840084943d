"""The heuristics of this package under their names, at their classes' default knobs (the
same values as their configs in experiments/configs/policy/; a test checks it). A new
heuristic adds one line here beside its file and its config."""
from ..registry import register_policy
from .backtrack import Backtrack
from .diffusers_block_refinement import DiffusersBlockRefinement
from .diffusers_entropy_bound import DiffusersEntropyBound
from .eb import EBSampler
from .entropy import LowestEntropy
from .factor import FactorRule
from .factor_margin import MarginFactorRule
from .genmd4 import GenMD4Sampler
from .hyperschedule_block import BlockAnnealing
from .hyperschedule_hybrid import HybridAnnealing
from .hyperschedule_window import SlidingWindow
from .p2 import P2
from .pc import PCSampler
from .random import VanillaAncestral
from .random_k import RandomK
from .remdm import ReMDM
from .semi_ar import SemiAutoregressive
from .threshold import ConfidenceThreshold
from .token_edit import TokenEdit
from .topk_margin import TopKMargin
from .topk_prob import TopKProbability

BUILTIN = {
    "backtrack": Backtrack,
    "diffusers_block_refinement": DiffusersBlockRefinement,
    "diffusers_entropy_bound": DiffusersEntropyBound,
    "eb": EBSampler,
    "entropy": LowestEntropy,
    "factor": FactorRule,
    "factor_margin": MarginFactorRule,
    "genmd4": GenMD4Sampler,
    "hyperschedule_block": BlockAnnealing,
    "hyperschedule_hybrid": HybridAnnealing,
    "hyperschedule_window": SlidingWindow,
    "p2": P2,
    "pc": PCSampler,
    "random": VanillaAncestral,
    "random_k": RandomK,
    "remdm": ReMDM,
    "semi_ar": SemiAutoregressive,
    "threshold": ConfidenceThreshold,
    "token_edit": TokenEdit,
    "topk_margin": TopKMargin,
    "topk_prob": TopKProbability,
}

# knobs whose config value differs from the class default (the config is the project's
# Sudoku-first choice; a text user passes block_origin="generated" for LLaDA's blocks)
DEFAULTS = {"semi_ar": {"block_origin": "sequence"}}

for _name, _cls in BUILTIN.items():
    register_policy(_name, _cls, **DEFAULTS.get(_name, {}))
