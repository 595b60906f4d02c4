"""Waiting, in synchronous test code, for something a test can observe.

`until(probe, timeout=, what=)` asks `probe` again every `every` seconds until it returns
something truthy, and fails naming `what`. It is the only pause the synchronous tests
take: never a fixed sleep that hopes the world has moved on. `eventually(...)` is the
same for asyncio tests.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Awaitable, Callable
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


async def eventually(
    probe: Callable[[], T | Awaitable[T | None] | None],
    *,
    timeout: float,
    what: str,
    every: float = 0.05,
) -> T:
    """`until` for asyncio tests: `probe` may be a plain or an async function. The pause
    between two looks yields to the event loop so the code under test runs meanwhile."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        found = probe()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found  # type: ignore[return-value]
        if loop.time() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(every)
