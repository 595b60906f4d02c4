"""The consoles of `callcenter bench screenpop`, in their own process.

Reads one JSON line on stdin: `{"url": "http://127.0.0.1:PORT", "tokens": [...]}`,
opens one authenticated WebSocket per token, prints `{"ready": N}` once every
console has its snapshot, then answers stdin commands:

- `report` → `{"pops": [[console_index, call_id, monotonic_arrival], ...]}`
  (and forgets them), plus `closed`: consoles whose socket ended;
- `quit` → closes everything and exits.

The pop reading and the stdin commands are `callcenter.bench.consoles`'.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aiohttp

from callcenter.bench.consoles import Pop, answer, answer_commands, read_config, read_pops


class _Ready:
    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.all = asyncio.Event()

    def snapshot(self) -> None:
        self.count += 1
        if self.count == self.total:
            self.all.set()


async def _console(
    session: aiohttp.ClientSession,
    url: str,
    index: int,
    token: str,
    pops: list[Pop],
    ready: _Ready,
    closed: list[int],
) -> None:
    try:
        async with session.ws_connect(f"{url}/ws?token={token}", compress=0, heartbeat=None) as ws:
            await read_pops(ws, index, pops, on_snapshot=ready.snapshot)
    except (aiohttp.ClientError, ConnectionError) as exc:
        print(json.dumps({"console_error": index, "error": str(exc)}), file=sys.stderr)
    closed.append(index)


async def main() -> None:
    config = await read_config()
    url: str = config["url"]
    tokens: list[str] = config["tokens"]
    pops: list[Pop] = []
    closed: list[int] = []
    ready = _Ready(len(tokens))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        for start in range(0, len(tokens), 100):  # connect in waves, like a shift starting
            for i in range(start, min(start + 100, len(tokens))):
                tasks.append(
                    asyncio.create_task(_console(session, url, i, tokens[i], pops, ready, closed))
                )
            await asyncio.sleep(0.05)
        await asyncio.wait_for(ready.all.wait(), timeout=120)
        answer({"ready": ready.count})
        await answer_commands(pops, closed)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(main())
