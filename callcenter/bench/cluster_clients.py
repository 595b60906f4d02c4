"""The consoles of `callcenter bench cluster`, in their own process.

Reads one JSON line on stdin::

    {"urls": ["http://127.0.0.1:P1", "http://127.0.0.1:P2"],
     "consoles": [[console_index, username, password, instance_index], ...],
     "setup_timeout": seconds, "concurrency": logins_at_once}

Each console does what an agent's browser does at the start of a shift, against
its own instance: `POST /api/login` (bearer token), `GET /ws?token=...` and waits
for the snapshot, then `POST /api/agent/state {"action": "sign_in"}` (the
instance adds the agent to its queues over AMI). Once every console is signed in
or has failed it prints `{"ready": N, "failed": [[index, error], ...]}`, then
answers stdin commands:

- `report` → `{"pops": [[console_index, call_id, monotonic_arrival], ...],
  "closed": [console_index, ...]}` (the pops are forgotten once reported);
- `quit` (or end of input) → closes every socket and exits.

The pop reading and the stdin commands are `callcenter.bench.consoles`'.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from callcenter.bench.consoles import Pop, answer, answer_commands, read_config, read_pops


@dataclass
class Consoles:
    total: int
    pops: list[Pop] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    ready: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    all_set: asyncio.Event = field(default_factory=asyncio.Event)

    def settled(self) -> None:
        if self.ready + len(self.failed) >= self.total:
            self.all_set.set()


async def _first_snapshot(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read until the snapshot (the first thing the server sends on a fresh socket)."""
    async for frame in ws:
        if frame.type is not aiohttp.WSMsgType.TEXT:
            continue
        data: Any = json.loads(frame.data)
        if any(m.get("type") == "snapshot" for m in (data if isinstance(data, list) else [data])):
            return
    raise ConnectionError("socket closed before the snapshot")


async def _console(
    session: aiohttp.ClientSession,
    url: str,
    index: int,
    username: str,
    password: str,
    gate: asyncio.Semaphore,
    state: Consoles,
) -> None:
    signed_in = False
    try:
        async with gate:
            async with session.post(
                f"{url}/api/login", json={"username": username, "password": password}
            ) as resp:
                body = await resp.json()
                if resp.status != 200:
                    raise ConnectionError(f"login: HTTP {resp.status} {body}")
                token = str(body["token"])
            ws = await session.ws_connect(f"{url}/ws?token={token}", compress=0, heartbeat=None)
        try:
            async with gate:
                await _first_snapshot(ws)
                async with session.post(
                    f"{url}/api/agent/state",
                    json={"action": "sign_in"},
                    headers={"Authorization": f"Bearer {token}"},
                ) as resp:
                    if resp.status != 200:
                        raise ConnectionError(f"sign_in: HTTP {resp.status} {await resp.text()}")
            signed_in = True
            state.ready += 1
            state.settled()
            await read_pops(ws, index, state.pops)
        finally:
            await ws.close()
    except (aiohttp.ClientError, ConnectionError, ValueError, KeyError) as exc:
        print(json.dumps({"console_error": index, "error": str(exc)}), file=sys.stderr)
        if not signed_in:
            state.failed.append((index, str(exc)[:200]))
            state.settled()
    if signed_in:
        state.closed.append(index)


async def main() -> None:
    config = await read_config()
    urls: list[str] = config["urls"]
    consoles: list[list[Any]] = config["consoles"]
    state = Consoles(total=len(consoles))
    gate = asyncio.Semaphore(int(config["concurrency"]))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [
            asyncio.create_task(
                _console(session, urls[int(instance)], int(i), str(user), str(pw), gate, state)
            )
            for i, user, pw, instance in consoles
        ]
        state.settled()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.all_set.wait(), timeout=float(config["setup_timeout"]))
        answer({"ready": state.ready, "failed": state.failed})
        await answer_commands(state.pops, state.closed)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
