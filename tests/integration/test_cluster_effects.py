"""Side effects of calls across two real `serve` instances (issue 13 #3, docs/adr/0060).

Both instances hear every call through the Redis bus. An abandoned call owes one
callback, a ring that runs out one violation and one pause of the agent, whichever
instance applies them and whatever happens to the database meanwhile:

- with the database up: N abandoned calls give N open callbacks (not one per
  instance), each missed ring one violation and one QueuePause;
- with PostgreSQL cut (a proxy between the instances and it) while calls ring out
  and are abandoned: once it is back, every owed callback and violation exists,
  exactly once, within seconds (the sweep), not after a 10-minute reconcile.

The truth is the simulator's own AMI stream, read by a tap: `AgentRingNoAnswer` per
missed ring, `QueueMemberPause` per pause.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crm_core.db import Database, open_database
from crm_core.domain.models import CallbackStatus
from crm_core.services.callbacks import CALLBACK_EFFECT
from crm_core.services.rules import RING_RULE_EFFECT
from tests.integration.cluster import AGENTS, AmiTap, Cluster
from tests.integration.tcp_fault import CuttableProxy

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ENV = {
    "CALLCENTER_RING_COUNT": "1",  # a 2 s ring limit: the queue rings each agent 2 s
    "CALLCENTER_RING_CYCLE_SECONDS": "2",
    "CALLCENTER_ABANDON_THRESHOLD_SECONDS": "1",
    "CALLCENTER_EFFECTS_SWEEP_SECONDS": "1",
    "CALLCENTER_EVENT_RETRY_SECONDS": "2",  # then the sweep's turn
}


async def _until(probe: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Wait for `probe()`; returns the seconds it took."""
    start = time.monotonic()
    while not await probe():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)
    return time.monotonic() - start


async def _all_claimed(db: Database) -> bool:
    """Every finished call has the keys of both its effects: whatever an instance (its
    live rules or its sweep) would still do to these calls starts with a claim that the
    database now refuses. The positive sign that a double can only show already."""
    now = datetime.now(UTC)
    for effect in (CALLBACK_EFFECT, RING_RULE_EFFECT):
        if await db.effects.calls_without(
            effect, since=now - timedelta(hours=1), until=now + timedelta(hours=1)
        ):
            return False
    return True


def _gave_up(cluster: Cluster, name: str) -> int:
    """How often instance `name` left a call's effects to the sweep (its retries over)."""
    text = (cluster.workdir / f"{name}.log").read_text(errors="replace")
    return sum(
        1
        for line in text.splitlines()
        if "handling CallEnded failed" in line and "effects sweep applies it" in line
    )


async def _abandoned_calls(cluster: Cluster, numbers: list[str], after: float) -> None:
    for number in numbers:
        await cluster.sim(
            "POST",
            "/calls",
            {"from": number, "name": "张三", "queue": "support", "abandon_after": after},
        )


async def _state(db: Database, tap: AmiTap, numbers: list[str]) -> dict[str, Any]:
    open_ = await db.callbacks.list(status=[CallbackStatus.OPEN, CallbackStatus.OVERDUE])
    per_number = Counter(cb.phone_e164 for cb in open_)
    violations = await db.violations.list()
    keys = Counter((v.call_id, v.agent, v.at.isoformat()) for v in violations)
    return {
        "abandoned": len(numbers),
        "open_callbacks": len(open_),
        "callbacks_per_abandoned_call": round(len(open_) / len(numbers), 2),
        "numbers_with_two_or_more": sum(1 for n in per_number.values() if n > 1),
        "missed_rings": len(tap.of("AgentRingNoAnswer")),
        "violations": len(violations),
        "violations_doubled": sum(1 for n in keys.values() if n > 1),
        "pauses": len(tap.of("QueueMemberPause", Queue="support", Paused="1")),
        "calls_recorded": await db.calls.count(),
    }


async def _start(cluster: Cluster, tap: AmiTap) -> None:
    await cluster.start()
    await tap.start()
    for n in range(1, AGENTS + 1):  # nobody answers: every ring runs out
        await cluster.sim("PUT", f"/agents/Agent%20100{n}", {"answer_after": None})


@pytest.mark.timeout(120)
async def test_abandoned_calls_owe_one_callback_each_and_a_missed_ring_counts_once(
    tmp_path: Path,
) -> None:
    cluster = Cluster(tmp_path, env=ENV)
    tap = AmiTap(cluster.ami_port)
    numbers = [f"1390013{n:04d}" for n in range(1, 5)]
    db: Database | None = None
    try:
        await _start(cluster, tap)
        await _abandoned_calls(cluster, numbers, after=9.0)  # ~2 rings run out each
        db = await open_database(cluster.db_url)

        async def settled() -> bool:
            if await cluster.calls_in_progress():
                return False
            state = await _state(db, tap, numbers)
            return state["calls_recorded"] >= len(numbers) and state["open_callbacks"] >= 4

        await _until(settled, 30, "the calls to end and their callbacks")

        async def claimed() -> bool:
            return await _all_claimed(db)

        await _until(claimed, 30, "every call's effects claimed")
        state = await _state(db, tap, numbers)
        print(json.dumps(state))
        log = cluster.log_tail("cc1") + cluster.log_tail("cc2")
        assert state["open_callbacks"] == len(numbers), f"{state}\n{log}"
        assert state["numbers_with_two_or_more"] == 0, state
        assert state["missed_rings"] > 0, state
        assert state["violations"] == state["missed_rings"], f"{state}\n{log}"
        assert state["violations_doubled"] == 0, state
        assert state["pauses"] == state["missed_rings"], state  # one QueuePause per miss
    finally:
        if db is not None:
            await db.close()
        await tap.stop()
        await cluster.stop()


@pytest.mark.timeout(150)
async def test_callbacks_owed_during_a_database_outage_exist_once_when_it_is_back(
    tmp_path: Path,
) -> None:
    proxy = CuttableProxy("127.0.0.1", 5432)
    await proxy.start()
    cluster = Cluster(tmp_path, env=ENV, db_port=proxy.port)
    tap = AmiTap(cluster.ami_port)
    numbers = [f"1390014{n:04d}" for n in range(1, 4)]
    db: Database | None = None
    try:
        await _start(cluster, tap)
        db = await open_database(cluster.db_url)  # the test's own way in, not cut
        await proxy.cut()
        cut_at = time.monotonic()
        await _abandoned_calls(cluster, numbers, after=7.0)

        async def ended() -> bool:
            return not await cluster.calls_in_progress()

        await _until(ended, 20, "the calls to be abandoned")

        async def left_to_the_sweep() -> bool:
            # longer than the rules retry (2 s here): both instances gave each call up
            return all(_gave_up(cluster, name) >= len(numbers) for name in ("cc1", "cc2"))

        await _until(left_to_the_sweep, 30, "both instances leaving the calls to the sweep")
        during = await _state(db, tap, numbers)
        assert during["open_callbacks"] == 0, during  # nothing could be written
        await proxy.restore()
        restored = time.monotonic()

        async def owed() -> bool:
            state = await _state(db, tap, numbers)
            return state["open_callbacks"] >= len(numbers) and (
                state["violations"] >= state["missed_rings"]
            )

        took = await _until(owed, 30, "the owed callbacks after the outage")

        async def claimed() -> bool:
            return await _all_claimed(db)

        await _until(claimed, 30, "every call's effects claimed")
        state = await _state(db, tap, numbers)
        state["outage_seconds"] = round(restored - cut_at, 1)
        state["callbacks_after_restore_seconds"] = round(took, 1)
        print(json.dumps(state))
        log = cluster.log_tail("cc1") + cluster.log_tail("cc2")
        assert state["open_callbacks"] == len(numbers), f"{state}\n{log}"
        assert state["numbers_with_two_or_more"] == 0, state
        assert state["violations"] == state["missed_rings"] > 0, f"{state}\n{log}"
        assert state["violations_doubled"] == 0, state
        assert "effects sweep: applied" in log, log  # the sweep, not a lucky retry
    finally:
        if db is not None:
            await db.close()
        await tap.stop()
        await cluster.stop()
        await proxy.cut()
