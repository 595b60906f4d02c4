"""`callcenter bench cluster [--quick]`: two instances, thousands of consoles, steady traffic.

The shape of a real deployment on one machine:

- a private `redis-server` (the event bus and the AMI lease; private so the bench
  never meets another cluster's lease or stream);
- a PostgreSQL schema of its own (`search_path`), migrated first, dropped after;
- the PBX simulator, in this process, speaking real AMI over TCP;
- two `callcenter serve` processes against that simulator and that Redis: one
  holds the AMI lease and reads the events, both serve consoles;
- processes holding the consoles (`cluster_clients`, 250 consoles each): half
  log in to each instance, so every other pop crosses Redis from the reading
  instance.

Agents sign in through the console (`POST /api/agent/state`), so the instances
put them into the simulator's queues over AMI. Calls arrive at a steady rate,
round-robin over queues of 5 agents; phones answer after half a second and the
caller talks two seconds, so every call ends and is written.

Measured:

- pops delivered / expected: every `AgentCalled` the simulator writes must pop
  exactly once on the console of that agent (a pop on another console counts as
  wrong, a second pop as a duplicate);
- pop latency: from just after the `AgentCalled` frame was written to the AMI
  socket to the arrival of the `screen_pop` frame at the console
  (`time.monotonic()` is CLOCK_MONOTONIC, shared by the processes);
- records written / calls ended: rows in the schema's `calls` table for the
  calls the simulator ended, after the writers drained.

Bench logins get a low-cost argon2id hash: 2,000 logins would otherwise spend
minutes of CPU in argon2 and measure that instead of the cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from sqlalchemy.exc import SQLAlchemyError

from callcenter.bench.consoles import ConsoleProcess
from callcenter.settings import Settings
from callcenter.testing.cluster import (
    Instances,
    PrivateRedis,
    drop_schema,
    instance_env,
    lease_holder,
    schema_urls,
)
from crm_core.domain.models import Role
from telephony.sim.pbx import Simulator

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
INSTANCES = 2
GROUP = 5  # agents per queue: the simulated queue offers one caller at a time
ANSWER_AFTER = 0.5  # seconds the agents' phones ring before they pick up
TALK_SECONDS = 2.0
PASSWORD = "bench-cluster"  # throwaway logins in a throwaway schema
AMI_SECRET = "bench-cluster-secret"
SECRET_KEY = "bench-cluster-" + "k" * 24
TARGET_P99_MS = 25.0
# Consoles per client process. 2,000 consoles in one Python process measured that
# process: each burst of heartbeats (one per console) held its loop for 50-80 ms.
CONSOLES_PER_PROCESS = 250
# Consoles logging in at the same moment (a shift starting), kept well under what
# two instances' database pools and a shared PostgreSQL's max_connections allow.
LOGINS_AT_ONCE = 40


@dataclass(frozen=True, slots=True)
class Size:
    consoles: int
    seconds: float
    calls_per_s: float


FULL = Size(consoles=2000, seconds=300.0, calls_per_s=20.0)
QUICK = Size(consoles=200, seconds=30.0, calls_per_s=20.0)


def size_from_args(args: argparse.Namespace) -> Size:
    base = QUICK if getattr(args, "quick", False) else FULL
    consoles = getattr(args, "consoles", None) or base.consoles
    seconds = getattr(args, "seconds", None) or base.seconds
    rate = getattr(args, "calls_per_second", None) or base.calls_per_s
    if consoles < 2 or seconds <= 0 or rate <= 0:
        raise ValueError("need at least 2 consoles, and seconds and calls per second > 0")
    return Size(consoles=int(consoles), seconds=float(seconds), calls_per_s=float(rate))


# --- the simulator, with a stopwatch on the frames that matter ----------------------------


class TimedSimulator(Simulator):
    """The product's PBX simulator, noting when each offer left and which calls ended."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.offered: dict[tuple[str, str], float] = {}  # (call id, member) -> monotonic
        self.ended: set[str] = set()
        self.idle = asyncio.Event()  # every call placed here has ended
        self.idle.set()
        self._open: set[str] = set()

    def place_call(self, *args: Any, **kwargs: Any) -> str:
        call_id = super().place_call(*args, **kwargs)
        self._open.add(call_id)
        self.idle.clear()
        return call_id

    def emit(self, event: str, fields: list[tuple[str, str]], privilege: str = "call,all") -> None:
        super().emit(event, fields, privilege)
        if event == "AgentCalled":
            sent = time.monotonic()  # the frame is in the socket (or its buffer) now
            f = dict(fields)
            self.offered.setdefault((f["Linkedid"], f["MemberName"]), sent)
        elif event == "Hangup":
            f = dict(fields)
            if f["Uniqueid"] == f["Linkedid"]:  # the caller's own channel: the call is over
                self.ended.add(f["Linkedid"])
                self._open.discard(f["Linkedid"])
                if not self._open:
                    self.idle.set()


# --- scoring (pure) ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100.0 * len(ordered))) - 1]


@dataclass
class Score:
    expected: int = 0
    delivered: int = 0
    wrong_console: int = 0
    duplicates: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    consoles: list[int] = field(default_factory=list)  # the console of each latency

    def percentile(self, p: float, *, where: Callable[[int], bool] | None = None) -> float | None:
        """Latency percentile over all pops, or over those whose console passes `where`."""
        if where is None:
            return percentile(self.latencies_ms, p)
        return percentile(
            [ms for ms, c in zip(self.latencies_ms, self.consoles, strict=True) if where(c)], p
        )


def score(
    offered: dict[tuple[str, str], float],
    members: list[str],
    pops: list[tuple[int, str, float]],
) -> Score:
    """Match pops (console index, call id, arrival) to offers ((call id, member) -> sent).

    `members[i]` is the queue member name of console `i`. A pop counts once for the
    offer it answers; a pop for a call not offered to that console's agent is wrong."""
    result = Score(expected=len(offered))
    seen: set[tuple[str, str]] = set()
    for index, call_id, arrived in pops:
        key = (call_id, members[index])
        sent = offered.get(key)
        if sent is None:
            result.wrong_console += 1
        elif key in seen:
            result.duplicates += 1
        else:
            seen.add(key)
            result.delivered += 1
            result.latencies_ms.append((arrived - sent) * 1000.0)
            result.consoles.append(index)
    return result


# --- processes --------------------------------------------------------------------------------


# --- the run --------------------------------------------------------------------------------


@dataclass
class Agent:
    username: str
    member: str
    interface: str
    queue: str


def _agents(consoles: int) -> list[Agent]:
    return [
        Agent(
            username=f"cl{i:05d}",
            member=f"Cluster {i:05d}",
            interface=f"Local/{30000 + i}@agents/n",
            queue=f"bench{i // GROUP:03d}",
        )
        for i in range(consoles)
    ]


async def _create_users(url: str, agents: list[Agent]) -> None:
    from crm_core.db import open_database

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    db = await open_database(url)
    try:
        for start in range(0, len(agents), 20):
            await asyncio.gather(
                *(
                    db.users.create(
                        username=a.username,
                        display_name=a.member,
                        role=Role.AGENT,
                        password_hash=cheap,
                        member_name=a.member,
                        interface=a.interface,
                        queues=(a.queue,),
                    )
                    for a in agents[start : start + 20]
                )
            )
    finally:
        await db.close()


async def _records(plain: str, schema: str) -> dict[str, str]:
    conn = await asyncpg.connect(plain, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch("SELECT call_id, outcome FROM calls")
    finally:
        await conn.close()
    return {str(r["call_id"]): str(r["outcome"]) for r in rows}


_T0 = time.monotonic()


def _say(text: str) -> None:
    print(f"[cluster {time.monotonic() - _T0:6.1f} s] {text}", file=sys.stderr, flush=True)


async def _bench(size: Size, pg_base: str) -> dict[str, Any]:
    from crm_core.db.migrate import upgrade_async

    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    schema = f"bench_cluster_{uuid.uuid4().hex[:8]}"
    url, plain = schema_urls(pg_base, schema)
    agents = _agents(size.consoles)
    queues = sorted({a.queue for a in agents})
    redis = PrivateRedis(work)
    instances: Instances | None = None
    sim: TimedSimulator | None = None
    clients: list[ConsoleProcess] = []
    keep_logs = True  # until the run proves clean (or the user stopped it)
    try:
        await asyncio.to_thread(redis.start)
        _say(f"PostgreSQL schema {schema}: migrating, {size.consoles} agents")
        await upgrade_async(url)
        await _create_users(url, agents)

        sim = TimedSimulator(ami_secret=AMI_SECRET)
        for q in queues:
            sim.add_queue(q, strategy="rrmemory")
        for a in agents:
            sim.add_agent_phone(a.member, a.interface, ANSWER_AFTER)
        ami_port = await sim.start("127.0.0.1", 0)

        instances = Instances(
            work,
            instance_env(
                os.environ,
                database_url=url,
                redis_url=redis.url,
                ami_host="127.0.0.1",
                ami_port=str(ami_port),
                ami_secret=AMI_SECRET,
                secret_key=SECRET_KEY,
                log_level="WARNING",
            ),
        )
        names = [f"cc{n}" for n in range(1, INSTANCES + 1)]
        for name in names:
            instances.start_serve(name)
        urls = [instances.url(name) for name in names]
        await instances.wait_up(names, 60.0)
        holder = await lease_holder(redis.url, 20.0)
        _say(f"instances up at {', '.join(urls)}; {holder} reads AMI")

        setup_timeout = 60.0 + size.consoles * 0.1
        consoles = [[i, a.username, PASSWORD, i % INSTANCES] for i, a in enumerate(agents)]
        started = time.monotonic()
        processes = math.ceil(len(consoles) / CONSOLES_PER_PROCESS)
        for start in range(0, len(consoles), CONSOLES_PER_PROCESS):
            clients.append(await ConsoleProcess.start("callcenter.bench.cluster_clients"))
            await clients[-1].send(
                {
                    "urls": urls,
                    "consoles": consoles[start : start + CONSOLES_PER_PROCESS],
                    "setup_timeout": setup_timeout,
                    "concurrency": max(1, LOGINS_AT_ONCE // processes),
                }
            )
        ready: dict[str, Any] = {"ready": 0, "failed": []}
        for c in clients:
            answer = await c.receive(setup_timeout + 30)
            ready["ready"] += answer["ready"]
            ready["failed"] += answer["failed"]
        members = sum(len(sim.queues[q].members) for q in queues)
        _say(
            f"{ready['ready']} consoles logged in and signed in ({len(ready['failed'])} failed) "
            f"in {time.monotonic() - started:.1f} s; {members} queue members at the PBX"
        )

        # traffic: a steady rate, round-robin over the queues
        total = round(size.seconds * size.calls_per_s)
        placed: list[str] = []
        begin = time.monotonic()
        next_note = begin + 30.0
        for k in range(total):
            delay = begin + k / size.calls_per_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            placed.append(
                sim.place_call(
                    f"139{k:08d}",
                    "Bench Caller",
                    queues[k % len(queues)],
                    talk_seconds=TALK_SECONDS,
                )
            )
            if time.monotonic() >= next_note:
                next_note += 30.0
                _say(
                    f"{time.monotonic() - begin:.0f} s: {len(placed)} calls placed, "
                    f"{len(sim.ended)} ended, {len(sim.calls)} in progress"
                )
        traffic_s = time.monotonic() - begin
        _say(f"{len(placed)} calls placed in {traffic_s:.1f} s; draining")

        # drain: every call ends at the PBX, pops arrive, writers write
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sim.idle.wait(), 60.0)
        _say(f"{len(sim.ended)} calls ended at the PBX")
        await asyncio.sleep(1.0)
        report: dict[str, Any] = {"pops": [], "closed": []}
        for c in clients:
            await c.send("report")
        for c in clients:
            part = await c.receive(120)
            report["pops"] += part["pops"]
            report["closed"] += part["closed"]
        ended = sim.ended.intersection(placed)
        records: dict[str, str] = {}
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            records = await _records(plain, schema)
            if ended.issubset(records):
                break
            await asyncio.sleep(0.5)

        _say(f"{len(records)} call records in the CRM")
        member_of = [a.member for a in agents]
        result = score(sim.offered, member_of, [tuple(p) for p in report["pops"]])
        written = ended.intersection(records)
        outcomes: dict[str, int] = {}
        for call_id in written:
            outcomes[records[call_id]] = outcomes.get(records[call_id], 0) + 1
        keep_logs = not (
            result.delivered == result.expected
            and not result.wrong_console
            and not result.duplicates
            and len(written) == len(ended) == len(placed)
        )
        return {
            "consoles": ready["ready"],
            "consoles_failed": len(ready["failed"]),
            "consoles_closed": len(report["closed"]),
            "reader": holder,
            "seconds": size.seconds,
            "traffic_seconds": traffic_s,
            "calls_per_s": size.calls_per_s,
            "calls_placed": len(placed),
            "calls_ended": len(ended),
            "records_written": len(written),
            "records_other": len(set(records) - ended),
            "outcomes": outcomes,
            "score": result,
        }
    except asyncio.CancelledError:
        keep_logs = False  # stopped by the user (Ctrl-C, SIGTERM): nothing to look into
        raise
    finally:
        await asyncio.gather(*(c.quit() for c in clients))
        if instances is not None:
            await instances.stop()
            _say("instances stopped")
        if sim is not None:
            await sim.stop()
        await asyncio.to_thread(redis.stop)
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            await drop_schema(plain, schema)
        _say("stopped and cleaned up")
        if not keep_logs:
            shutil.rmtree(work, ignore_errors=True)
        else:
            _say(f"instance logs kept in {work}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


async def _main(size: Size, pg_base: str) -> dict[str, Any]:
    # SIGTERM stops the bench like Ctrl-C does: through the cleanup above
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    return await _bench(size, pg_base)


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        size = size_from_args(args)
    except ValueError as exc:
        print(f"bench cluster: {exc}", file=sys.stderr)
        return 2
    pg_base = getattr(args, "database_url", None) or (
        settings.database_url if settings.database_url.startswith("postgresql") else PG
    )
    print(
        f"cluster: {INSTANCES} instances, {size.consoles} consoles, "
        f"{size.calls_per_s:g} calls/s for {size.seconds:g} s",
        file=sys.stderr,
    )
    try:
        r = asyncio.run(_main(size, pg_base))
    except asyncio.CancelledError:
        print("bench cluster: stopped", file=sys.stderr)
        return 143
    except (RuntimeError, OSError, TimeoutError, asyncpg.PostgresError, SQLAlchemyError) as exc:
        print(f"bench cluster: failed: {exc!r}", file=sys.stderr)
        return 1
    s: Score = r["score"]
    p50, p99, worst = s.percentile(50), s.percentile(99), s.percentile(100)
    print(
        f"consoles                {r['consoles']} signed in, half on each instance "
        f"({r['consoles_failed']} failed, {r['consoles_closed']} closed during the run); "
        f"AMI read by {r['reader']}"
    )
    print(
        f"calls                   {r['calls_placed']} placed in {r['traffic_seconds']:.1f} s, "
        f"{r['calls_ended']} ended at the PBX"
    )
    print(
        f"pops delivered          {s.delivered} / {s.expected} expected "
        f"(wrong console {s.wrong_console}, duplicates {s.duplicates})"
    )
    print(f"AgentCalled -> pop      p50 {_ms(p50)}   p99 {_ms(p99)}   max {_ms(worst)}")
    reader = int(r["reader"].removeprefix("cc")) - 1

    def local(console: int) -> bool:
        return console % INSTANCES == reader

    print(
        f"  same instance         p50 {_ms(s.percentile(50, where=local))}   "
        f"p99 {_ms(s.percentile(99, where=local))}"
    )
    print(
        f"  across Redis          p50 {_ms(s.percentile(50, where=lambda c: not local(c)))}   "
        f"p99 {_ms(s.percentile(99, where=lambda c: not local(c)))}"
    )
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items())) or "none"
    print(
        f"records written         {r['records_written']} / {r['calls_ended']} calls ended "
        f"(outcomes: {outcomes}; other rows {r['records_other']})"
    )
    delivered_all = s.delivered == s.expected and s.wrong_console == 0 and s.duplicates == 0
    written_all = r["records_written"] == r["calls_ended"] == r["calls_placed"]
    p99_ok = p99 is not None and p99 < TARGET_P99_MS
    print(
        f"target                  100% delivered: {'yes' if delivered_all else 'NO'}, "
        f"100% written: {'yes' if written_all else 'NO'}, "
        f"p99 < {TARGET_P99_MS:g} ms: {'yes' if p99_ok else 'NO'}"
    )
    print(
        json.dumps(
            {
                "bench": "cluster",
                "instances": INSTANCES,
                "consoles": r["consoles"],
                "calls_per_s": r["calls_per_s"],
                "seconds": r["seconds"],
                "pops_expected": s.expected,
                "pops_delivered": s.delivered,
                "wrong_console": s.wrong_console,
                "duplicate_pops": s.duplicates,
                "p50_ms": None if p50 is None else round(p50, 3),
                "p99_ms": None if p99 is None else round(p99, 3),
                "max_ms": None if worst is None else round(worst, 3),
                "records_written": r["records_written"],
                "calls_ended": r["calls_ended"],
                "calls_placed": r["calls_placed"],
            }
        )
    )
    return 0 if delivered_all and written_all and s.expected > 0 else 1
