"""Test oracles: minimal transcriptions of the authors' published unmasking rules, written for
this project's conformance suite (tests/test_conformance_*.py) from the papers and their public
code. Each module names the repository, commit and file it transcribes. They are oracles, not
library code: greedy tokens, a `model(x) -> logits` callable, and every deviation from the
reference code a named argument (the documented differences of docs/conformance.md).
"""
