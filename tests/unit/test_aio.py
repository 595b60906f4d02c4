"""The shared asyncio helpers: stopping a background task, telling a loopback peer."""

from __future__ import annotations

import asyncio

import pytest

from crm_core.aio import cancel_and_wait, loopback_peer


async def test_cancel_and_wait_returns_once_the_task_has_ended() -> None:
    cleaned: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append("done")

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled()
    assert cleaned == ["done"]
    await cancel_and_wait(None)


class _Transport(asyncio.BaseTransport):
    def __init__(self, peer: object) -> None:
        super().__init__()
        self._peer = peer

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self._peer if name == "peername" else default


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (("127.0.0.1", 5000), True),
        (("::1", 5000, 0, 0), True),
        (("10.0.0.7", 5000), False),
        (("/run/app.sock",), False),
        (None, False),
    ],
)
def test_loopback_peer(peer: object, expected: bool) -> None:
    assert loopback_peer(_Transport(peer)) is expected


def test_no_transport_is_not_loopback() -> None:
    assert loopback_peer(None) is False
