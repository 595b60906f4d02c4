"""Recorded AMI sessions (the format of shared/ami-captures/) fed through the ingest path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crm_core.domain.events import CallEnded, DomainEvent
from crm_core.domain.models import CallRecord
from telephony.ingest import Ingest
from telephony.tracker import CallTracker

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def capture_chunks(path: Path) -> Iterator[tuple[int, float, bytes]]:
    """(connection number, t seconds, raw bytes) of every frame received from Asterisk."""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if rec.get("dir") == "in" and "raw" in rec:
                yield int(rec.get("conn", 1)), float(rec["t"]), rec["raw"].encode("utf-8")


def replay_events(
    path: Path, tracker: CallTracker, *, epoch: datetime = EPOCH
) -> Iterator[DomainEvent]:
    ingest = Ingest(tracker)
    conn = None
    for number, t, data in capture_chunks(path):
        if number != conn:
            # a later connection is a reconnect: its CoreShowChannels list resyncs the tracker
            ingest.new_connection(resync_from_stream=conn is not None)
            conn = number
        yield from ingest.feed_bytes(data, epoch + timedelta(seconds=t))


def replay_records(
    path: Path, *, ring_limit_seconds: float = 15.0, abandon_threshold_seconds: float = 5.0
) -> list[CallRecord]:
    tracker = CallTracker(ring_limit_seconds, abandon_threshold_seconds=abandon_threshold_seconds)
    return [e.record for e in replay_events(path, tracker) if isinstance(e, CallEnded)]
