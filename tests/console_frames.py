"""The console's WebSocket frames as the tests read them: a frame holds one message or,
for a client that asked for batches, an array of them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp


def unbatched(text: str) -> list[dict[str, Any]]:
    """The messages of one text frame, in order."""
    data = json.loads(text)
    return data if isinstance(data, list) else [data]


async def frame_messages(
    ws: aiohttp.ClientWebSocketResponse,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The messages of each text frame, until the socket closes (or sends other than text)."""
    async for frame in ws:
        if frame.type is not aiohttp.WSMsgType.TEXT:
            break
        yield unbatched(frame.data)
