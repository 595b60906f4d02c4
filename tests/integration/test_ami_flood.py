"""A flood of 5,000 AMI events/s with malformed frames, into the real reader.

The generator (tests/integration/ami_flood.py, a process of its own) replays the
recorded calls of a real Asterisk with fresh ids, 40 at once, interleaved, plus
one bad or hostile frame per 97 events and two frames over the 1 MiB limit. Our
AMI client, call tracker, in-process bus and call-log writer (PostgreSQL,
durable outbox) take it. Nothing may be lost: the connection stays up, every
event sent is read, every malformed frame is counted as such, every call ends as
exactly one complete record with the fields the recording gives, and the reader
keeps up (its backlog and the hang-up → record delay stay bounded).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from callcenter.bench.scratch import scratch_schema
from crm_core.bus import InProcessBus
from crm_core.db import open_database
from crm_core.db.migrate import upgrade_async
from crm_core.domain.events import CallEnded, DomainEvent
from crm_core.domain.models import CallRecord
from crm_core.services.call_log import CallLogWriter
from telephony.ingest import Ingest
from telephony.replay import replay_records
from telephony.tracker import CallTracker
from tests.conftest import PG_URL
from tests.integration.ami_flood import (
    CAPTURES,
    TEMPLATES,
    Recorded,
    recorded_calls,
    rewrite,
    template_frames,
)
from tests.integration.local_reader import local_reader

PLAIN = PG_URL.replace("postgresql+asyncpg://", "postgresql://")
SECRET = "flood-secret"
RATE = 5000.0
RECORDED = recorded_calls()


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    async with scratch_schema(PG_URL, "t_flood") as scratch:
        await upgrade_async(scratch.url)
        yield scratch.schema


def _fields(record: CallRecord) -> Recorded:
    return (
        record.call_id,
        record.direction.value,
        record.caller_number,
        record.caller_name,
        record.dialed_number,
        record.queue,
        record.agent,
        record.outcome.value,
        record.answered_at is not None,
        tuple((o.agent, o.result.value) for o in record.offers),
    )


def _copied(recorded: Recorded, copy: int, lane: int) -> Recorded:
    """The recorded call as copy `copy` on lane `lane` of the flood says it."""

    def m(text: str | None) -> str | None:
        return None if text is None else rewrite(text, copy, lane)

    call_id, direction, number, name, dialed, queue, agent, outcome, answered, offers = recorded
    return (
        rewrite(call_id, copy, lane),
        direction,
        rewrite(number, copy, lane),
        rewrite(name, copy, lane),
        m(dialed),
        queue,
        m(agent),
        outcome,
        answered,
        tuple((m(who), result) for who, result in offers),
    )


def test_every_flood_template_copy_replays_like_its_recording() -> None:
    """The generator's copies are the recordings with other ids: replayed calmly (no
    TCP, no garbage, no load) each gives the recorded calls, renamed."""
    assert set(RECORDED) == set(TEMPLATES)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for name in TEMPLATES:
        assert sorted(_fields(r) for r in replay_records(CAPTURES / f"{name}.jsonl")) == sorted(
            RECORDED[name]
        )
        ingest = Ingest(CallTracker(15.0))
        got = []
        for n, frame in enumerate(template_frames(name)):
            events = ingest.feed_bytes(rewrite(frame, 7, 3).encode(), at + timedelta(seconds=n))
            got += [_fields(e.record) for e in events if isinstance(e, CallEnded)]
        assert sorted(got) == sorted(_copied(r, 7, 3) for r in RECORDED[name]), name


async def _start_generator(seconds: float, summary: Path) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.ami_flood",
        "--rate",
        str(RATE),
        "--seconds",
        str(seconds),
        "--secret",
        SECRET,
        "--summary",
        str(summary),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    return proc, int(json.loads(line)["port"])


@pytest.mark.postgres
@pytest.mark.timeout(200)
@pytest.mark.parametrize(
    "seconds",
    [pytest.param(60.0, marks=pytest.mark.slow, id="a-minute"), pytest.param(4.0, id="4s")],
)
async def test_flood_of_5000_events_per_s_with_garbage_loses_nothing(
    schema: str, tmp_path: Path, seconds: float
) -> None:
    db = await open_database(f"{PG_URL}?search_path={schema}")
    bus = InProcessBus()
    writer = CallLogWriter(db.calls, outbox_path=tmp_path / "outbox.db", bus=bus)
    bus.subscribe(writer.handle)
    await writer.start()
    ended_at: dict[str, float] = {}
    duplicates: list[str] = []

    def on_event(event: DomainEvent) -> None:
        if isinstance(event, CallEnded):
            if event.record.call_id in ended_at:
                duplicates.append(event.record.call_id)
            ended_at[event.record.call_id] = time.monotonic()

    bus.subscribe(on_event)

    summary_path = tmp_path / "flood.json"
    generator, port = await _start_generator(seconds, summary_path)
    client = local_reader(port, SECRET, CallTracker(15.0), bus.publish_all)
    backlog: list[int] = []
    pending: list[int] = []

    async def sample() -> None:
        while True:
            backlog.append(client.backlog)
            pending.append(writer.pending)
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:
        client.start()
        await client.wait_connected(10)  # logged in and resynced: the flood may begin
        assert generator.stdin is not None
        generator.stdin.write(b"go\n")
        await generator.stdin.drain()
        assert generator.stdout is not None
        done = json.loads(await asyncio.wait_for(generator.stdout.readline(), seconds + 60))
        assert done["error"] == "", done
        flood = json.loads(summary_path.read_text(encoding="utf-8"))
        expected_events = flood["sent_events"] + flood["other_events"]
        expected_events += flood["garbage_expected"]["event"]
        deadline = time.monotonic() + 20  # the reader catches up with the tail at once
        while time.monotonic() < deadline and (
            client.events_read < expected_events or client.backlog or writer.pending
        ):
            await asyncio.sleep(0.05)
        drained_after = time.monotonic() - flood["finished"]
    finally:
        sampler.cancel()
        await client.stop()
        await writer.stop()
        await db.close()
        if generator.returncode is None:
            assert generator.stdin is not None
            generator.stdin.close()  # it exits when told (or is killed when it hangs)
            try:
                await asyncio.wait_for(generator.wait(), 10)
            except TimeoutError:
                generator.kill()
                await generator.wait()

    # the connection survived, every frame was read and put where it belongs
    assert client.connects == 1
    assert client.events_read == expected_events
    assert client.bad_frames == flood["garbage_expected"]["bad"]
    assert sum(flood["garbage_by_kind"].values()) > seconds * RATE / 100
    assert flood["garbage_by_kind"]["oversized"] == 2
    assert flood["split_characters"] > seconds  # names cut inside a character, many times

    # every call that ended is one complete record with the recording's fields
    want: dict[str, Recorded] = {}
    for call in flood["calls"]:
        for recorded in RECORDED[call["template"]]:
            copied = _copied(recorded, call["copy"], call["lane"])
            want[copied[0]] = copied
    assert not duplicates
    assert set(ended_at) == set(want)
    conn = await asyncpg.connect(PLAIN, server_settings={"search_path": schema})
    try:
        rows = await conn.fetch(
            "SELECT c.*, coalesce((SELECT json_agg(json_build_array(o.agent, o.result)"
            " ORDER BY o.seq) FROM call_offers o WHERE o.call_pk = c.id), '[]') AS offers"
            " FROM calls c"
        )
    finally:
        await conn.close()
    assert len(rows) == len(want)
    for row in rows:
        got = (
            row["call_id"],
            row["direction"],
            row["caller_number"],
            row["caller_name"],
            row["dialed_number"],
            row["queue"],
            row["agent"],
            row["outcome"],
            row["answered_at"] is not None,
            tuple(tuple(o) for o in json.loads(row["offers"])),
        )
        assert got == want[row["call_id"]]
        assert row["started_at"] is not None
        assert row["ended_at"] is not None
        assert row["started_at"] <= row["ended_at"]

    # the reader kept up: the generator never had to queue, hang-up → record stays short
    lags = sorted(ended_at[cid] - flood["hangup_sent"][cid] for cid in ended_at)
    p50, p99 = statistics.median(lags), lags[int(len(lags) * 0.99) - 1]
    report = {
        "events_per_s": round(flood["steady_events_per_s"]),
        "events": flood["sent_events"],
        "garbage": sum(flood["garbage_by_kind"].values()),
        "calls": len(want),
        "lag_p50_ms": round(p50 * 1000, 1),
        "lag_p99_ms": round(p99 * 1000, 1),
        "lag_max_ms": round(lags[-1] * 1000, 1),
        "max_backlog": max(backlog),
        "max_outbox": max(pending),
        "max_generator_queue_kb": flood["max_write_buffer"] // 1024,
        "drained_after_s": round(drained_after, 2),
    }
    print(json.dumps(report))
    assert flood["steady_events_per_s"] > 0.9 * RATE, report
    assert flood["max_write_buffer"] < 4 << 20, report  # under a second of traffic queued
    assert p99 < 1.0, report
    assert lags[-1] < 3.0, report
    assert max(backlog) < RATE, report  # never a second of events behind
    assert drained_after < 5.0, report
