"""The seeds' alternation example: sequences that alternate between two symbols A and B."""
from .task import A, B, MASK_ID, VOCAB_SIZE, AlternationTask, is_alternating

__all__ = ["A", "B", "MASK_ID", "VOCAB_SIZE", "AlternationTask", "is_alternating"]
