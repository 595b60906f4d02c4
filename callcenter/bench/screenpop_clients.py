"""The consoles of `callcenter bench screenpop`, in their own process.

Reads one JSON line on stdin: `{"url": "http://127.0.0.1:PORT", "tokens": [...]}`,
opens one authenticated WebSocket per token, prints `{"ready": N}` once every
console has its snapshot, then answers stdin commands:

- `report` → `{"pops": [[console_index, call_id, monotonic_arrival], ...]}`
  (and forgets them), plus `closed`: consoles whose socket ended;
- `quit` → closes everything and exits.

`time.monotonic()` is CLOCK_MONOTONIC, shared by all processes on the machine, so
the server side can subtract its own timestamps from these.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp


async def _console(
    session: aiohttp.ClientSession,
    url: str,
    index: int,
    token: str,
    pops: list[tuple[int, str, float]],
    ready: asyncio.Event,
    counter: list[int],
    total: int,
    closed: list[int],
) -> None:
    try:
        async with session.ws_connect(f"{url}/ws?token={token}", compress=0, heartbeat=None) as ws:
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                arrived = time.monotonic()
                data: Any = json.loads(frame.data)
                for msg in data if isinstance(data, list) else [data]:
                    kind = msg.get("type")
                    if kind == "screen_pop":
                        pops.append((index, msg["call_id"], arrived))
                    elif kind == "snapshot":
                        counter[0] += 1
                        if counter[0] == total:
                            ready.set()
    except (aiohttp.ClientError, ConnectionError) as exc:
        print(json.dumps({"console_error": index, "error": str(exc)}), file=sys.stderr)
    closed.append(index)


async def main() -> None:
    loop = asyncio.get_running_loop()
    config = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    url: str = config["url"]
    tokens: list[str] = config["tokens"]
    pops: list[tuple[int, str, float]] = []
    closed: list[int] = []
    ready = asyncio.Event()
    counter = [0]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        for start in range(0, len(tokens), 100):  # connect in waves, like a shift starting
            for i in range(start, min(start + 100, len(tokens))):
                tasks.append(
                    asyncio.create_task(
                        _console(
                            session, url, i, tokens[i], pops, ready, counter, len(tokens), closed
                        )
                    )
                )
            await asyncio.sleep(0.05)
        await asyncio.wait_for(ready.wait(), timeout=120)
        print(json.dumps({"ready": counter[0]}), flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            command = line.strip()
            if command == "report":
                out = list(pops)
                pops.clear()
                print(json.dumps({"pops": out, "closed": list(closed)}), flush=True)
            elif command in ("quit", ""):
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
