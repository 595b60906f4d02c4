"""Faults in the cluster: two real `callcenter serve` instances over a private Redis
and PostgreSQL, the PBX simulator, consoles on the instance that does not read AMI
(so every pop crosses the Redis bus).

- Redis restarts (empty: no persistence) in the middle of traffic while the
  consoles reconnect with `?after=<last seq>`: every ring the PBX made pops exactly
  once on the right console.
- A console that comes back on the *other* instance (a failover of the proxy)
  with a seq from the first gets a snapshot, never a silent resume.
- Clients that finish the WebSocket handshake and then never read are closed by
  their bounded queue while the normal consoles keep getting pops at once, and
  the instance's memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.integration.cluster import AGENTS, AmiTap, Cluster, Console
from tests.integration.test_console_harness import raw_ws_handshake
from tests.polling import eventually

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


async def _until(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def _running(
    cluster: Cluster, *, answer_after: float, customers: dict[str, str] | None = None
) -> AsyncIterator[tuple[AmiTap, list[Console]]]:
    """The cluster started, a tap on its AMI, every agent's phone answering after
    `answer_after`; the consoles a test adds to the list are closed on leaving, then
    the tap and the cluster stop."""
    tap = AmiTap(cluster.ami_port)
    consoles: list[Console] = []
    try:
        await cluster.start(customers=customers)
        await tap.start()
        for n in range(1, AGENTS + 1):
            await cluster.sim("PUT", f"/agents/Agent%20100{n}", {"answer_after": answer_after})
        yield tap, consoles
    finally:
        for console in consoles:
            if console.ws is not None and not console.ws.closed:
                await console.ws.close()
        await tap.stop()
        await cluster.stop()


async def _connect(consoles: list[Console], instance: str) -> None:
    for console in consoles:
        await console.connect(instance)
    await _until(lambda: all(c.snapshots for c in consoles), 10, "the snapshots")


async def _settle(cluster: Cluster, tap: AmiTap, consoles: list[Console], seconds: float) -> None:
    """Wait (at most `seconds`) until no call is on and every ring has popped."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and (
        await cluster.calls_in_progress() or not _all_popped(tap, consoles)
    ):
        await asyncio.sleep(0.2)


async def _traffic(cluster: Cluster, seconds: float, every: float, talk: float) -> list[str]:
    """Inbound calls from several numbers at a steady pace; the sim's call ids."""
    placed: list[str] = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += 1
        placed.append(
            await cluster.place_call(f"1380013{n % 10000:04d}", f"张{n}", talk_seconds=talk)
        )
        await asyncio.sleep(every)
    return placed


@pytest.mark.timeout(180)
@pytest.mark.parametrize("persistent", [False, True], ids=["restarts-empty", "restarts-with-aof"])
async def test_redis_restart_mid_traffic_no_pop_lost_or_duplicated(
    tmp_path: Path, persistent: bool
) -> None:
    """Without persistence Redis comes back empty (stream ids start again, the lease
    key is gone); with the append-only file of docker/compose.yaml it comes back
    with its stream, which nobody may read a second time."""
    cluster = Cluster(tmp_path, persistent_redis=persistent)
    async with _running(cluster, answer_after=0.2) as (tap, consoles):
        async with aiohttp.ClientSession() as session:
            consoles += [Console(cluster, session, f"agent{n}") for n in range(1, AGENTS + 1)]
            await _connect(consoles, cluster.standby)
            holder_before = cluster.holder

            # the fault's timeline (the sleeps are the scenario: when Redis goes, how
            # long it stays away), while calls keep coming
            traffic = asyncio.create_task(_traffic(cluster, 16.0, every=0.25, talk=1.0))
            await asyncio.sleep(4.0)
            restored = _bus_restored(cluster)
            cluster.redis.stop()  # mid-traffic
            await asyncio.sleep(0.5)
            for console in consoles[:3]:  # these lose their socket during the outage and
                await console.drop()  # stay away until the backlog has come through
            await asyncio.sleep(3.0)
            cluster.redis.start()  # same port
            await asyncio.sleep(1.0)
            for console in consoles[3:]:  # these lose theirs right after the restart
                await console.drop()
            # the buffered pops cross Redis: both instances have written and read it again
            await _until(
                lambda: all(_bus_restored(cluster)[n] > restored[n] for n in restored),
                20,
                "both instances' Redis bus restored",
            )
            for console in consoles[:3]:
                await console.connect(cluster.standby)
            await asyncio.sleep(0.5)  # the scenario: the others come back a moment later
            for console in consoles[3:]:
                await console.connect(cluster.standby)
            placed = await traffic

            async def settled() -> bool:
                if await cluster.calls_in_progress():
                    return False
                return all(
                    c.popped() == tap.rings_of(f"Agent 100{n}")
                    for n, c in enumerate(consoles, start=1)
                )

            end = time.monotonic() + 30
            while time.monotonic() < end and not await settled():
                await asyncio.sleep(0.2)
            await _last_call_through(cluster, tap, consoles)
            holder_after = await cluster.lease_holder()
            for console in consoles:
                await console.drop()

        rings = sum(len(tap.rings_of(f"Agent 100{n}")) for n in range(1, AGENTS + 1))
        lat = sorted(x for c in consoles for x in c.latencies())
        report = {
            "calls": len(placed),
            "rings": rings,
            "pops": sum(len(c.pops) for c in consoles),
            "pop_p50_ms": lat and round(statistics.median(lat) * 1000, 1),
            "pop_max_ms": lat and round(lat[-1] * 1000, 1),
            "lease": f"{holder_before} -> {holder_after}",
        }
        print(json.dumps(report))
        assert rings >= len(placed) > 40
        # the AMI reader did not change hands: a hand-over loses the rings between one
        # reader's Events: off and the other's resync, and doubles those of an overlap
        assert holder_after == holder_before, report
        for n, console in enumerate(consoles, start=1):
            want = tap.rings_of(f"Agent 100{n}")
            got = console.popped()
            lost, doubled = want - got, got - want
            detail = f"agent{n}: lost {sorted(lost)}, doubled {sorted(doubled)}; {report}"
            assert not lost, detail + "\n" + cluster.log_tail(cluster.standby)
            assert not doubled, detail + "\n" + cluster.log_tail(cluster.standby)
            assert console.gaps == []  # every resume replayed exactly what was missed
            assert console.snapshots == 1  # the first; each reconnect resumed instead


@pytest.mark.timeout(150)
async def test_console_failing_over_to_the_other_instance_gets_a_snapshot(tmp_path: Path) -> None:
    """The proxy sends a reconnecting console to the other instance (its first one
    went away): the `?after=` it brings is a seq of the first instance's stream. It
    must get a snapshot with the calls that rang meanwhile, and every pop after
    that, none taken for one it already had."""
    cluster = Cluster(tmp_path)
    async with _running(cluster, answer_after=0.2) as (tap, consoles):
        async with aiohttp.ClientSession() as session:
            consoles += [Console(cluster, session, f"agent{n}") for n in range(1, AGENTS + 1)]
            await _connect(consoles, cluster.standby)
            await _traffic(cluster, 3.0, every=0.2, talk=0.5)
            await _until(lambda: all(c.pops for c in consoles), 10, "a pop on every console")
            await _settle(cluster, tap, consoles, 20)  # the first calls are over and popped

            for console in consoles:
                await console.drop()
            # while they are away, every agent gets a call that is still on at the reconnect
            rung = len(tap.rings)
            away = [
                await cluster.place_call(f"1390000000{n}", f"李{n}", talk_seconds=8.0)
                for n in range(AGENTS)
            ]
            await _until(lambda: len(tap.rings) >= rung + len(away), 10, "the rings")
            # the other instance has them as live calls: a snapshot now carries them
            await _on_screens(cluster, session, cluster.holder, set(away))
            before = {c.username: c.last_seq for c in consoles}
            for console in consoles:
                await console.connect(cluster.holder)  # the other instance
            await _until(lambda: all(c.snapshots == 2 for c in consoles), 10, "new snapshots")
            live = {call for c in consoles for call in c.cards}
            assert set(away) <= live  # the calls that rang meanwhile are on the screens

            await _traffic(cluster, 3.0, every=0.2, talk=0.5)
            end = time.monotonic() + 20
            while time.monotonic() < end and not _all_popped(tap, consoles, skip=set(away)):
                await asyncio.sleep(0.2)
            for console in consoles:
                await console.drop()

        for n, console in enumerate(consoles, start=1):
            want = tap.rings_of(f"Agent 100{n}")
            for call in away:
                want.pop(call, None)  # these came with the snapshot
            assert console.popped() == want, (console.username, before, console.gaps)
            assert console.stale == 0  # nothing of the new instance taken for old


def _bus_restored(cluster: Cluster) -> dict[str, int]:
    """How often each instance has logged its Redis bus connection restored."""
    return {
        name: (cluster.workdir / f"{name}.log")
        .read_text(errors="replace")
        .count("redis bus: connection to")
        for name in ("cc1", "cc2")
    }


async def _last_call_through(cluster: Cluster, tap: AmiTap, consoles: list[Console]) -> None:
    """A last call behind all the others, through AMI and Redis: once its pop is on a
    console, the console instance has handed on everything before it; then a pong on
    every console shows that its socket delivered all it had been given. Anything late
    or doubled has shown by then."""
    last = await cluster.place_call("13800139999", "尾声", talk_seconds=0.2)
    await _until(lambda: any(last in c.popped() for c in consoles), 20, "the last call's pop")
    await _settle(cluster, tap, consoles, 20)
    for console in consoles:
        await console.flush()


async def _snapshot_cards(probe: Console, instance: str) -> set[str]:
    await probe.connect(instance)
    await eventually(lambda: probe.snapshots, timeout=10, what="the probe's snapshot")
    await probe.drop()
    return set(probe.cards)


async def _on_screens(
    cluster: Cluster, session: aiohttp.ClientSession, instance: str, calls: set[str]
) -> None:
    """Wait until a console opening on `instance` would get `calls` in its snapshot
    (a probe socket per agent, opened and closed until it does)."""
    end = time.monotonic() + 20
    while True:
        shown: set[str] = set()
        for n in range(1, AGENTS + 1):
            shown |= await _snapshot_cards(Console(cluster, session, f"agent{n}"), instance)
        if calls <= shown:
            return
        assert time.monotonic() < end, f"calls {calls - shown} never on the screens"
        await asyncio.sleep(0.2)


def _all_popped(tap: AmiTap, consoles: list[Console], skip: set[str] | None = None) -> bool:
    for n, console in enumerate(consoles, start=1):
        want = tap.rings_of(f"Agent 100{n}")
        for call in skip or ():
            want.pop(call, None)
        if console.popped() != want:
            return False
    return True


BIG_CUSTOMER = "13800138000"
NEVER_READERS_PER_AGENT = 3


@pytest.mark.timeout(180)
async def test_clients_that_never_read_are_closed_and_slow_nobody(tmp_path: Path) -> None:
    """Six sockets finish the WebSocket handshake on the console instance and never
    read, three each beside the normal consoles of the two agents taking calls. The
    caller is a long-standing customer whose card carries 120 kB of notes, so every
    pop is large and the stuck sockets fill up in seconds. Each must be closed by
    its bounded queue (4008, counted in /metrics), the normal consoles must get
    every pop at once, and the instance's memory must stop growing."""
    notes = "长期客户，历次来电记录见下。" * 8800  # about 120 kB of UTF-8
    cluster = Cluster(tmp_path)
    stuck: list[socket.socket] = []
    async with (
        _running(cluster, answer_after=0.05, customers={BIG_CUSTOMER: notes}) as (tap, consoles),
        contextlib.AsyncExitStack() as closing,  # the stuck sockets, closed before the rest
    ):
        # only agent1 and agent2 take calls: all the pops are theirs
        for n in range(3, AGENTS + 1):
            tap.action("QueuePause", Interface=f"Local/100{n}@agents/n")
        console_instance = cluster.standby
        async with aiohttp.ClientSession() as session:
            consoles += [Console(cluster, session, f"agent{n}") for n in (1, 2)]
            await _connect(consoles, console_instance)
            for console in consoles:
                for _ in range(NEVER_READERS_PER_AGENT):
                    sock = await raw_ws_handshake(cluster.url(console_instance), console.token)
                    stuck.append(closing.enter_context(sock))
            assert await cluster.metric(console_instance, "callcenter_ws_connections") == 8
            rss: list[tuple[float, int]] = [(0.0, cluster.rss_kb(console_instance))]
            started = time.monotonic()
            closed_after = None
            n = 0
            first_seq = {c.username: c.last_seq for c in consoles}
            sampled = 0.0
            while (elapsed := time.monotonic() - started) < 60:
                if await cluster.calls_in_progress() < 3:  # both agents busy, one waiting
                    n += 1
                    await cluster.place_call(BIG_CUSTOMER, "王老板", talk_seconds=0.2)
                await asyncio.sleep(0.05)
                if elapsed - sampled >= 0.5:
                    sampled = elapsed
                    rss.append((elapsed, cluster.rss_kb(console_instance)))
                    slow = await cluster.metric(
                        console_instance, "callcenter_ws_slow_clients_closed_total"
                    )
                    if slow >= len(stuck) and closed_after is None:
                        closed_after = elapsed
                    if closed_after is not None and elapsed > closed_after + 8:
                        break  # eight more seconds of traffic without the stuck sockets
            await _settle(cluster, tap, consoles, 30)
            open_after = await cluster.metric(console_instance, "callcenter_ws_connections")
            for console in consoles:
                await console.drop()

        lat = sorted(x for c in consoles for x in c.latencies())
        peak = max(kb for _, kb in rss)
        at_close = max(
            (kb for t, kb in rss if closed_after is not None and t <= closed_after),
            default=peak,
        )
        report = {
            "calls": n,
            "pops": len(lat),
            "stuck_closed_after_s": closed_after and round(closed_after, 1),
            "pop_p50_ms": lat and round(statistics.median(lat) * 1000, 1),
            "pop_p99_ms": lat and round(lat[int(len(lat) * 0.99) - 1] * 1000, 1),
            "pop_max_ms": lat and round(lat[-1] * 1000, 1),
            "rss_start_mb": rss[0][1] // 1024,
            "rss_at_close_mb": at_close // 1024,
            "rss_peak_mb": peak // 1024,
            "rss_end_mb": rss[-1][1] // 1024,
            "messages_per_pop": round(
                sum(c.last_seq - first_seq[c.username] for c in consoles) / max(len(lat), 1), 1
            ),
        }
        print(json.dumps(report))
        assert closed_after is not None, report  # every stuck socket was closed (4008)
        assert open_after == len(consoles), report  # and let go of
        for k, console in enumerate(consoles, start=1):
            assert console.popped() == tap.rings_of(f"Agent 100{k}"), report
            assert console.gaps == []
        assert lat[int(len(lat) * 0.99) - 1] < 0.5, report
        assert lat[-1] < 1.0, report
        for sock in stuck:  # the server hung up on each of them
            assert _closed_by_peer(sock), report
        # memory: what the design allows (two users' replay buffers of 500 messages, up
        # to 250 kB each here), not a backlog per stuck socket
        assert peak - rss[0][1] < 150 * 1024, report


def _closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    """Read what the kernel still holds for a never-reader: the end must follow."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        return True  # aborted: the queue was full while the socket was stuck
    except TimeoutError:
        return False
    return True
