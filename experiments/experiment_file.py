"""`experiment=/path/to/my.yaml`: an experiment config from a file outside the package.

Hydra only knows the experiments in `experiments/configs/experiment/` (or in an `experiment/`
folder of a `hydra.searchpath`). This rewrites the command line before Hydra reads it: a value
of `experiment=` that names a YAML file is copied into a fresh `experiment/` folder, which goes
on the search path, and the option becomes that config's name.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

BUILTIN = Path(__file__).resolve().parent / "configs" / "experiment"
HOW = ("an experiment config starts with `# @package _global_` and overrides the run's keys, "
       "like the files in experiments/configs/experiment/")


def is_file_value(value: str) -> bool:
    return value.endswith((".yaml", ".yml")) or "/" in value


def with_experiment_file(args: list[str]) -> list[str]:
    """`args` (the command line after the program name) with every `experiment=FILE` turned
    into a config name on an added search path; other arguments unchanged."""
    out, folder = [], None
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key.lstrip("+~") != "experiment" or not is_file_value(value):
            out.append(arg)
            continue
        file = Path(value).expanduser().resolve()
        if not file.is_file():
            raise SystemExit(f"{arg}: no such file {file}. Give the name of a config in {BUILTIN} "
                             f"or the path of a YAML file ({HOW})")
        if "@package _global_" not in file.read_text().split("\n", 1)[0]:
            raise SystemExit(f"{arg}: the first line of {file} is not `# @package _global_`: "
                             f"without it Hydra would nest its keys under `experiment` and "
                             f"ignore them ({HOW})")
        if any(a.startswith(("hydra.searchpath=", "+hydra.searchpath=")) for a in args):
            raise SystemExit(f"{arg}: give either experiment=FILE or hydra.searchpath, not both")
        name = file.stem if not (BUILTIN / file.name).exists() else f"{file.stem}_from_file"
        folder = folder or Path(tempfile.mkdtemp(prefix="mdm-experiment-"))
        (folder / "experiment").mkdir(exist_ok=True)
        shutil.copyfile(file, folder / "experiment" / f"{name}.yaml")
        out.append(f"{key}={name}")
    if folder is not None:
        out.append(f"hydra.searchpath=[file://{folder}]")
    return out
