"""The Asterisk side of `callcenter bench ivr`, in its own process so the callers'
event loop does not compete with the server being measured.

Usage: python -m callcenter.bench.ivr_clients PORT SESSIONS ARRIVALS_PER_S
Prints one JSON object: {"latencies_ms": [...], "elapsed_s": ..., "peak_open": ...}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

PROMPT_SECONDS = 1.0


async def session(port: int, n: int) -> float:
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"agi_network: yes\nagi_network_script: welcome\nagi_channel: PJSIP/trunk-{n:08x}\n"
            f"agi_uniqueid: 1700000000.{n}\nagi_callerid: 138{n % 100_000:08d}\n"
            "agi_calleridname: bench\n\n"
        ).encode()
    )
    decided = 0.0
    while True:
        line = (await reader.readline()).decode()
        if not line:
            break
        if line.startswith("SET VARIABLE CC_QUEUE") and not decided:
            decided = (time.perf_counter() - start) * 1000
        if line.startswith("GET DATA"):
            writer.write(b"200 result= (timeout)\n")
        elif line.startswith("STREAM FILE"):
            await asyncio.sleep(PROMPT_SECONDS)  # the caller listens to the prompt
            writer.write(b"200 result=0 endpos=8000\n")
        else:
            writer.write(b"200 result=1\n")
        await writer.drain()
        if line.startswith("SET VARIABLE CC_ROUTE"):
            break
    writer.close()
    return decided


async def drive(port: int, sessions: int, rate: float) -> dict[str, object]:
    await asyncio.gather(*(session(port, n) for n in range(60)))  # warm-up
    latencies: list[float] = []
    open_now = 0
    peak = 0

    async def one(n: int) -> None:
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        latencies.append(await session(port, n))
        open_now -= 1

    tasks = []
    t0 = time.perf_counter()
    for n in range(sessions):
        delay = t0 + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    return {"latencies_ms": latencies, "elapsed_s": time.perf_counter() - t0, "peak_open": peak}


if __name__ == "__main__":
    port, sessions, rate = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(asyncio.run(drive(port, sessions, rate))))
