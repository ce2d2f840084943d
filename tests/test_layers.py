"""Imports point down the layers of docs/design.md section 7, checked by parsing every module.

    experiments -> tasks, vi -> planner -> denoiser
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("denoiser", "planner", "vi", "tasks", "experiments")
# what each package may import from the project (besides itself)
ALLOWED = {
    "denoiser": set(),
    "planner": {"denoiser"},
    "vi": {"planner", "denoiser"},
    "tasks": {"planner", "denoiser"},
    "experiments": {"tasks", "vi", "planner", "denoiser"},
}


def project_imports(source: str) -> list[tuple[int, str]]:
    """(line, top-level project package) of every absolute import in `source`, at any depth
    (inside functions too: a lazy import is still an import)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n.split(".")[0]) for n in names if n.split(".")[0] in PACKAGES]
    return found


def upward_imports(package: str, source: str) -> list[tuple[int, str]]:
    return [(line, target) for line, target in project_imports(source)
            if target != package and target not in ALLOWED[package]]


def test_the_checker_sees_imports_at_any_depth():
    source = ("import torch\nfrom tasks.sudoku.board import ROW\n"
              "def f():\n    import vi.checkpoint\n    from . import local\n    from experiments import x\n")
    assert project_imports(source) == [(2, "tasks"), (4, "vi"), (6, "experiments")]
    assert upward_imports("planner", source) == [(2, "tasks"), (4, "vi"), (6, "experiments")]
    assert upward_imports("experiments", source) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_points_up(package):
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"no modules under {REPO / package}"
    bad = [f"{f.relative_to(REPO)}:{line} imports {target}"
           for f in files for line, target in upward_imports(package, f.read_text())]
    assert not bad, (f"{package} may import only {sorted(ALLOWED[package]) or 'nothing of the project'} "
                     f"(docs/design.md section 7): " + "; ".join(bad))
