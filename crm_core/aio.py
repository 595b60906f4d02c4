"""Small asyncio helpers that every package may use (crm_core imports nothing of ours)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from typing import TypeVar

T = TypeVar("T")


async def cancel_and_wait(task: asyncio.Future[T] | None) -> None:
    """Cancel a background task and wait until it has really ended (None: nothing to do).

    Waiting matters: a task still unwinding may touch a connection its owner closes next.
    """
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def loopback_peer(transport: asyncio.BaseTransport | None) -> bool:
    """Whether the other end of a connection is on this machine (False when unknown)."""
    peer = transport.get_extra_info("peername") if transport else None
    if not peer:
        return False
    try:
        return ipaddress.ip_address(peer[0]).is_loopback
    except ValueError:
        return False
