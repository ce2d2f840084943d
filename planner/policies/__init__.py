"""One file per unmasking policy; each has a config in experiments/configs/policy/."""
