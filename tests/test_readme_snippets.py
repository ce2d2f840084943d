"""Every Python snippet of the README runs as pasted, from a directory outside the repository."""
import re
import subprocess

import pytest

from conftest import REPO

SNIPPETS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)


def test_the_readme_has_snippets():
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_runs_from_another_directory(index, tmp_path, python_exe, python_env):
    proc = subprocess.run([python_exe, "-c", SNIPPETS[index]], cwd=tmp_path, env=python_env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"README snippet {index + 1}:\n{SNIPPETS[index]}\n{proc.stderr}"
    assert proc.stdout.strip(), f"README snippet {index + 1} printed nothing"
