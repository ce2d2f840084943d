"""Argument checks the generated tasks share, with errors that name the value."""
from __future__ import annotations

import torch


def check_count(name: str, value) -> int:
    """`value` if it is a positive integer (not a bool), else a ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def check_generator(generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator
