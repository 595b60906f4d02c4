"""Waiting, in synchronous test code, for something a test can observe.

`until(probe, timeout=, what=)` asks `probe` again every `every` seconds until it returns
something truthy, and fails naming `what`. It is the only pause the synchronous tests
take: never a fixed sleep that hopes the world has moved on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(probe: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.1) -> T:
    end = time.monotonic() + timeout
    pause = threading.Event()  # never set: only its timed wait is used
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        pause.wait(every)
