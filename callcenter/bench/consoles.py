"""What the console-holding processes of `bench screenpop` and `bench cluster` share:
the bench side (`ConsoleProcess`, spoken to in JSON lines over stdin/stdout) and the
client side (reading pops off a socket, answering `report` / `quit` on stdin).

Arrival times are `time.monotonic()` (CLOCK_MONOTONIC, shared by all processes on
the machine) taken when the frame is read, before it is parsed, so the bench can
subtract its own timestamps from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from callcenter.testing.cluster import die_with_parent

Pop = tuple[int, str, float]  # console index, call id, monotonic arrival


# --- the bench side ------------------------------------------------------------------------


class ConsoleProcess:
    """One console-holding process (`python -m MODULE`), spoken to in JSON lines."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, module: str) -> ConsoleProcess:
        proc = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", module),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,  # its stderr passes through
            limit=256 * 1024 * 1024,
            start_new_session=True,  # Ctrl-C reaches the bench, which stops them in order
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        return cls(proc)

    async def send(self, message: object) -> None:
        assert self.proc.stdin is not None
        text = message if isinstance(message, str) else json.dumps(message)
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def receive(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"console process {self.proc.pid} ended unexpectedly")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def quit(self, timeout: float = 10.0) -> None:
        stdin = self.proc.stdin
        if stdin is not None and not stdin.is_closing():
            with contextlib.suppress(OSError):
                stdin.write(b"quit\n")
                stdin.close()
        if self.proc.returncode is not None:
            return
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


# --- the client side -----------------------------------------------------------------------


async def read_pops(
    ws: aiohttp.ClientWebSocketResponse,
    index: int,
    pops: list[Pop],
    on_snapshot: Callable[[], None] | None = None,
) -> None:
    """Until the socket ends: note every `screen_pop` of console `index` in `pops`."""
    async for frame in ws:
        if frame.type is not aiohttp.WSMsgType.TEXT:
            continue
        arrived = time.monotonic()
        data: Any = json.loads(frame.data)
        for msg in data if isinstance(data, list) else [data]:
            kind = msg.get("type")
            if kind == "screen_pop":
                pops.append((index, str(msg["call_id"]), arrived))
            elif kind == "snapshot" and on_snapshot is not None:
                on_snapshot()


async def read_config() -> dict[str, Any]:
    """The one JSON line the bench sends first."""
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    config: dict[str, Any] = json.loads(line)
    return config


def answer(message: object) -> None:
    print(json.dumps(message), flush=True)


async def answer_commands(pops: list[Pop], closed: list[int]) -> None:
    """`report` → `{"pops": [...], "closed": [...]}` (the pops are forgotten once
    reported); `quit` or the end of stdin returns."""
    loop = asyncio.get_running_loop()
    while True:
        command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if command == "report":
            out = list(pops)
            pops.clear()
            answer({"pops": out, "closed": list(closed)})
        elif command in ("quit", ""):
            return
