"""The evaluation data an entry point's config names (`data.path`, `data.limit`,
`data.select`), checked before anything is loaded.

`data.path: null` (or no `data` section beyond limit/select) takes the task's own evaluation
data (`task.default_eval_path`: the Sudoku validation file, the `validation` split of a
generated or text task). A file marked test only in data/README.md is refused unless the
config says `allow_test: true`; `held_out_note` is what the outputs record then.
"""
from __future__ import annotations

from omegaconf import DictConfig

from tasks.data_files import check_test_only
from tasks.paths import resolve_data_path


def data_path(cfg: DictConfig, task) -> str:
    data = cfg.get("data")
    if not isinstance(data, DictConfig) or "path" not in data:
        raise ValueError(f"the config has no data.path: give data.path=FILE (a Sudoku CSV) or "
                         f"a split name (validation, test) for task {task.name!r}, or "
                         f"data.path=null for the task's own evaluation data")
    return task.default_eval_path if data.path is None else str(data.path)


def guard_test_only(path: str, cfg: DictConfig, what: str = "data.path") -> bool:
    """Whether `path` (a file, or a split name that is no file) is a test-only file; raises
    when it is and the config does not say `allow_test: true`."""
    try:
        file = resolve_data_path(path)
    except FileNotFoundError:
        return False        # a split name, or a missing file the task's loader reports
    return check_test_only(file, bool(cfg.get("allow_test", False)), what)


def load_eval_data(cfg: DictConfig, task):
    """(EvalData, test_only): the config's evaluation data for `task`."""
    path = data_path(cfg, task)
    test_only = guard_test_only(path, cfg)
    data = cfg.data
    return task.load_eval(path, data.get("limit"), data.get("select", "first")), test_only


def held_out_note(test_only: bool) -> dict:
    """What a result records about test-only data: `{"allow_test": True}` when it used some."""
    return {"test_only_data": True, "allow_test": True} if test_only else {}
