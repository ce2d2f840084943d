"""Sampling loop and unmasking policies for frozen masked diffusion models."""
from .context import StepContext
from .policy import Budget, Policy, Score, ScoredPolicy, Selection
from .registry import load_policy, policy_names, register_policy, register_policy_configs
from .sampling import SampleResult, StepRecord, sample
from .generate import GenerateResult, generate

__all__ = ["StepContext", "Budget", "Policy", "Score", "ScoredPolicy", "Selection",
           "load_policy", "policy_names", "register_policy", "register_policy_configs", "SampleResult", "StepRecord", "sample",
           "GenerateResult", "generate"]
