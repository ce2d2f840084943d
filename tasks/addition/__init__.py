"""The addition task `a+b=c`: token layout, arithmetic, split hash and the task class."""
from .format import (DIGIT0, EQUALS, MASK_ID, PLUS, VOCAB_SIZE, Layout, add_digits, is_valid_sum,
                     split_bucket)
from .task import AdditionTask

__all__ = ["DIGIT0", "EQUALS", "MASK_ID", "PLUS", "VOCAB_SIZE", "Layout", "add_digits",
           "is_valid_sum", "split_bucket", "AdditionTask"]
