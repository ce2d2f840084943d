"""One file per unmasking policy; each is registered by name in builtin.py and has a config in
experiments/configs/policy/."""
