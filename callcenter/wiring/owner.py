"""What a part builder hands its stops and background tasks to: the `Runtime`, which
stops them in reverse order of registration (docs/adr/0073)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Owner", "Part"]


@dataclass(slots=True)
class Part:
    name: str
    stop: Callable[[], Awaitable[None]]


class Owner(Protocol):
    """Takes over what a builder started, so a failure later in start-up stops it too."""

    def own(self, name: str, stop: Callable[[], Awaitable[None]]) -> None: ...

    def task(self, name: str, coro: Awaitable[None]) -> asyncio.Task[None]:
        """A background task: cancelled and awaited on stop."""
        ...
