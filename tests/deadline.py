"""`within(seconds, fn, *args)`: run a call that must not hang, failing the test if it does.

The call runs in a daemon thread; a call still running after `seconds` fails the test with
"hung" (the thread is left behind, and dies with the test process)."""
from __future__ import annotations

import threading

import pytest


def within(seconds: float, fn, *args, **kwargs):
    box: dict = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:      # re-raised in the test's thread
            box["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} hung: still running after {seconds} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")
